"""``python -m mce_data download`` against a local HTTP server on 127.0.0.1 serving a small subset of the data."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import json
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mce_data.__main__ import main
from mce_data.download import MANIFESTS, Manifest, RemoteArchive, download


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1 (random port), and its base URL."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_builtin_checksums_match_the_local_copies(real_data: Path) -> None:
    for remote in MANIFESTS["mnist"].files:
        local = real_data / "mnist" / remote.name
        if local.exists():  # the 60k training images are not stored here
            assert _sha(local) == remote.sha256, remote.name
    archive = MANIFESTS["fsdd"].archive
    assert archive is not None
    wavs = sorted((real_data / "fsdd" / "recordings").glob("*.wav"), key=lambda p: p.name)
    lines = "".join(f"{_sha(p)}  {p.name}\n" for p in wavs)
    assert (hashlib.sha256(lines.encode()).hexdigest(), len(wavs)) == (archive.tree_sha256, archive.n_files)


def test_mnist_file_download_verify_and_skip(real_data: Path, served: tuple[Path, str], tmp_path: Path) -> None:
    folder, url = served
    source = real_data / "mnist" / "t10k-labels-idx1-ubyte.gz"
    (folder / source.name).symlink_to(source)
    remote = next(r for r in MANIFESTS["mnist"].files if r.name == source.name)
    manifest = Manifest("mnist", files=(remote,))
    logs: list[str] = []
    out = download("mnist", tmp_path / "data", base_url=url, manifest=manifest, log=logs.append)
    assert (out / source.name).read_bytes() == source.read_bytes()
    assert not list(out.glob("*.part"))
    download("mnist", tmp_path / "data", base_url=url, manifest=manifest, log=logs.append)
    assert logs[-1].endswith("present and verified, skipped")


def test_mnist_checksum_mismatch_names_the_file(real_data: Path, served: tuple[Path, str], tmp_path: Path) -> None:
    folder, url = served
    source = real_data / "mnist" / "t10k-labels-idx1-ubyte.gz"
    (folder / source.name).symlink_to(source)
    remote = next(r for r in MANIFESTS["mnist"].files if r.name == source.name)
    wrong = Manifest("mnist", files=(dataclasses.replace(remote, sha256="0" * 64),))
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte\.gz: sha256 mismatch"):
        download("mnist", tmp_path / "data", base_url=url, manifest=wrong, log=lambda _: None)
    assert list((tmp_path / "data" / "mnist").iterdir()) == []  # nothing unverified left behind


def _fsdd_zip(real_data: Path, folder: Path, names: list[str]) -> tuple[str, str]:
    """Zip a few real recordings in GitHub's archive layout; return (zip name, expected tree digest)."""
    name = "fsdd-test.zip"
    with zipfile.ZipFile(folder / name, "w") as zipped:
        zipped.writestr("free-spoken-digit-dataset-x/README.md", "readme")
        for wav in names:
            zipped.write(real_data / "fsdd" / "recordings" / wav, f"free-spoken-digit-dataset-x/recordings/{wav}")
    lines = "".join(f"{_sha(real_data / 'fsdd' / 'recordings' / w)}  {w}\n" for w in sorted(names))
    return name, hashlib.sha256(lines.encode()).hexdigest()


def test_fsdd_archive_via_the_command_line(
    real_data: Path, served: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, url = served
    names = ["0_theo_0.wav", "3_jackson_12.wav", "9_nicolas_49.wav", "5_george_7.wav"]
    zip_name, digest = _fsdd_zip(real_data, folder, names)
    archive = RemoteArchive(zip_name, "unused", "recordings", "recordings", digest, len(names))
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"folder": "fsdd", "archive": dataclasses.asdict(archive)}))
    dest = tmp_path / "data"
    args = ["download", "fsdd", "--dest", str(dest), "--base-url", url, "--manifest", str(manifest)]
    assert main(args) == 0
    got = sorted(p.name for p in (dest / "fsdd" / "recordings").iterdir())
    assert got == sorted(names)
    for wav in names:
        assert _sha(dest / "fsdd" / "recordings" / wav) == _sha(real_data / "fsdd" / "recordings" / wav)
    assert main(args) == 0
    assert "present and verified, skipped" in capsys.readouterr().out
    manifest.write_text(json.dumps({"folder": "fsdd", "archive": dataclasses.asdict(archive) | {"n_files": 5}}))
    assert main([*args[:3], str(tmp_path / "other"), *args[4:]]) == 1
    assert "fsdd-test.zip: extracted recordings/ does not verify" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["iemocap", "brats", "nuscenes"])
def test_licensed_datasets_explain_and_exit_2(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["download", name]) == 2
    message = capsys.readouterr().err
    assert "cannot be downloaded automatically" in message
    assert "<root>/" in message
    assert "https://" in message
