"""``python -m mce_data download {mnist,fsdd} --dest DIR [--base-url URL] [--manifest FILE]``.

``download iemocap|brats|nuscenes`` prints where to obtain the licensed dataset and the layout to
place it in, and exits with code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from mce_data.download import LICENSED, MANIFESTS, Manifest, RemoteArchive, RemoteFile, download


def read_manifest(path: Path) -> Manifest:
    """A manifest from JSON: ``{"folder": ..., "files": [{name, url, sha256}], "archive": {...} | null}``."""
    raw = json.loads(path.read_text())
    archive = raw.get("archive")
    return Manifest(
        folder=raw["folder"],
        files=tuple(RemoteFile(**entry) for entry in raw.get("files", [])),
        archive=None if archive is None else RemoteArchive(**archive),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 1 failed download, 2 licensed dataset or usage)."""
    parser = argparse.ArgumentParser(
        prog="python -m mce_data",
        description="Fetch the public datasets (mnist, fsdd) with sha256 verification, or explain where to obtain "
        "the licensed ones (iemocap, brats, nuscenes: exit code 2).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("download", help="fetch a public dataset, or explain where to get a licensed one")
    fetch.add_argument("dataset", choices=sorted(MANIFESTS) + sorted(LICENSED))
    fetch.add_argument("--dest", type=Path, help="data root; files go to DEST/<dataset>/ (required for public sets)")
    fetch.add_argument("--base-url", help="mirror: fetch each file as BASE_URL/<file name>")
    fetch.add_argument("--manifest", type=Path, help="JSON manifest replacing the built-in files and checksums")
    args = parser.parse_args(argv)
    if args.dataset in LICENSED:
        print(f"{args.dataset} cannot be downloaded automatically.\n{LICENSED[args.dataset]}", file=sys.stderr)
        return 2
    if args.dest is None:
        parser.error("--dest is required for public datasets")
    manifest = None if args.manifest is None else read_manifest(args.manifest)
    try:
        folder = download(args.dataset, args.dest, base_url=args.base_url, manifest=manifest)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{args.dataset}: ready in {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
