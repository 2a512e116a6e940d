"""Fetch the public datasets (MNIST, FSDD) with sha256 verification; explain where to get the licensed ones.

``download("mnist", dest)`` writes ``dest/mnist/*.gz``; ``download("fsdd", dest)`` fetches the FSDD
repository archive at a pinned commit and extracts ``recordings/*.wav`` into ``dest/fsdd/recordings/``,
so ``dest`` is a data root for :class:`~mce_data.avmnist.AVMNIST` (and ``MCE_DATA_DIR``).

* MNIST: the test images/labels and train labels from github.com/kelas/mnist (commit 283b387, re-gzipped
  copies of the official files; sha256 of those .gz files), the 60,000 training images from the
  TensorFlow mirror ``storage.googleapis.com/cvdf-datasets/mnist`` (the official .gz, its published sha256).
* FSDD: ``github.com/Jakobovski/free-spoken-digit-dataset/archive/<commit>.zip``. GitHub archives are
  not byte-stable, so the check is on the extracted recordings: the sha256 of the sorted
  ``"<sha256 of file>  <name>\\n"`` lines of all wav files (see :func:`tree_digest`), and their count.

Downloads go to a ``.part`` file beside the target (resumed with an HTTP range request when the server
allows), are verified, then renamed into place; a file that already verifies is skipped, and so is the
request for a ``.part`` that already verifies (a complete part must not be resumed: servers answer a
range past the end with 416). A 416 answer otherwise restarts the download from scratch. A checksum
mismatch is a ``ValueError`` naming the file, a network failure an ``OSError`` naming the file and the
URL, and nothing unverified is left in place.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mce_data import brats, iemocap, nuscenes

MNIST_COMMIT = "283b387221ab46655e600cfcc25d843bb14292b9"
FSDD_COMMIT = "26eb9aaf76e81b692f806f9140c2d2777410d7a1"
_KELAS = f"https://raw.githubusercontent.com/kelas/mnist/{MNIST_COMMIT}"
_CVDF = "https://storage.googleapis.com/cvdf-datasets/mnist"


@dataclass(frozen=True)
class RemoteFile:
    """One file to fetch: where it goes (``name``, relative to the dataset folder), its URL and sha256."""

    name: str
    url: str
    sha256: str


@dataclass(frozen=True)
class RemoteArchive:
    """A zip whose ``member_dir/*.wav`` files go to ``dest_dir``; verified by :func:`tree_digest` and count."""

    name: str
    url: str
    member_dir: str
    dest_dir: str
    tree_sha256: str
    n_files: int


@dataclass(frozen=True)
class Manifest:
    """What ``download`` fetches for one dataset: plain files and/or one archive."""

    folder: str
    files: tuple[RemoteFile, ...] = ()
    archive: RemoteArchive | None = None


MANIFESTS: dict[str, Manifest] = {
    "mnist": Manifest(
        "mnist",
        files=(
            RemoteFile(
                "t10k-images-idx3-ubyte.gz",
                f"{_KELAS}/t10k-images-idx3-ubyte.gz",
                "167310007f03058885c7e95e6c0b19c20de5c7fd3031f4cbdadc9014a523d80b",
            ),
            RemoteFile(
                "t10k-labels-idx1-ubyte.gz",
                f"{_KELAS}/t10k-labels-idx1-ubyte.gz",
                "fc607395669ec21321ea83e4b82c0544b7e8e63ff5b34337c06bc0a17cc0da3c",
            ),
            RemoteFile(
                "train-labels-idx1-ubyte.gz",
                f"{_KELAS}/train-labels-idx1-ubyte.gz",
                "ec02e7948609e5754d47881c09b8afdd8dfa60600b9e5388c8c54a67069ec772",
            ),
            RemoteFile(
                "train-images-idx3-ubyte.gz",
                f"{_CVDF}/train-images-idx3-ubyte.gz",
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            ),
        ),
    ),
    "fsdd": Manifest(
        "fsdd",
        archive=RemoteArchive(
            f"free-spoken-digit-dataset-{FSDD_COMMIT}.zip",
            f"https://github.com/Jakobovski/free-spoken-digit-dataset/archive/{FSDD_COMMIT}.zip",
            member_dir="recordings",
            dest_dir="recordings",
            tree_sha256="1801eae019c063377d98f831d3f93574f259475df7332bb0e3d1b080fb5e6959",
            n_files=3000,
        ),
    ),
}

LICENSED: dict[str, str] = {
    "iemocap": iemocap.LAYOUT_HELP,
    "brats": brats.LAYOUT_HELP,
    "nuscenes": nuscenes.LAYOUT_HELP,
}
"""Datasets that cannot be fetched automatically: where to obtain them and the layout to place them in."""


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tree_digest(folder: Path, pattern: str = "*.wav") -> tuple[str, int]:
    """sha256 of the sorted lines ``"<sha256>  <name>\\n"`` of ``folder/pattern``, and the file count."""
    files = sorted(folder.glob(pattern), key=lambda p: p.name)
    lines = "".join(f"{sha256_file(p)}  {p.name}\n" for p in files)
    return hashlib.sha256(lines.encode()).hexdigest(), len(files)


def _fetch(url: str, part: Path) -> None:
    """Download ``url`` into ``part``, resuming an existing partial file when the server honours ranges.

    A 416 (range not satisfiable: the part is already as long as the file, or longer) restarts from scratch;
    any network failure is an ``OSError`` naming the file and the URL.
    """
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        try:
            response = urllib.request.urlopen(request, timeout=60)
        except urllib.error.HTTPError as error:
            if error.code != 416 or not have:
                raise
            part.unlink()
            have, response = 0, urllib.request.urlopen(urllib.request.Request(url), timeout=60)
        with response:
            mode = "ab" if have and response.status == 206 else "wb"
            with part.open(mode) as stream:
                shutil.copyfileobj(response, stream, 1 << 20)
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", None) or error
        raise OSError(f"{part.name.removesuffix('.part')}: cannot fetch {url} ({reason})") from error


def fetch_file(remote: RemoteFile, folder: Path, url: str, log: Callable[[str], None]) -> Path:
    """Fetch one file into ``folder`` unless a verified copy is there; verify, then rename into place."""
    target = folder / remote.name
    if target.is_file() and sha256_file(target) == remote.sha256:
        log(f"{target}: present and verified, skipped")
        return target
    part = target.with_name(target.name + ".part")
    if part.is_file() and sha256_file(part) == remote.sha256:
        log(f"{part}: complete and verified, not fetched again")
        os.replace(part, target)
        return target
    log(f"{target}: fetching {url}")
    _fetch(url, part)
    got = sha256_file(part)
    if got != remote.sha256 and part.stat().st_size:
        part.unlink()  # a stale partial file may have been resumed wrongly: one fresh try
        _fetch(url, part)
        got = sha256_file(part)
    if got != remote.sha256:
        part.unlink()
        raise ValueError(f"{remote.name}: sha256 mismatch (expected {remote.sha256}, got {got}) for {url}")
    os.replace(part, target)
    return target


def fetch_archive(archive: RemoteArchive, folder: Path, url: str, log: Callable[[str], None]) -> Path:
    """Fetch a zip, extract ``member_dir/*.wav`` into ``folder/dest_dir`` after verifying the extracted tree."""
    target = folder / archive.dest_dir
    if target.is_dir() and tree_digest(target) == (archive.tree_sha256, archive.n_files):
        log(f"{target}: present and verified, skipped")
        return target
    part = folder / (archive.name + ".part")
    log(f"{target}: fetching {url}")
    _fetch(url, part)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".extract-") as scratch:
        staged = Path(scratch)
        try:
            with zipfile.ZipFile(part) as zipped:
                for member in zipped.infolist():
                    parts = Path(member.filename).parts
                    if len(parts) >= 2 and parts[-2] == archive.member_dir and member.filename.endswith(".wav"):
                        (staged / parts[-1]).write_bytes(zipped.read(member))
        except zipfile.BadZipFile as error:
            part.unlink()
            raise ValueError(f"{archive.name}: not a valid zip archive ({error}) from {url}") from error
        digest, count = tree_digest(staged)
        if (digest, count) != (archive.tree_sha256, archive.n_files):
            part.unlink()
            raise ValueError(
                f"{archive.name}: extracted {archive.member_dir}/ does not verify: {count} wav files with tree "
                f"sha256 {digest}, expected {archive.n_files} with {archive.tree_sha256} (from {url})"
            )
        target.mkdir(parents=True, exist_ok=True)
        for wav in staged.iterdir():
            os.replace(wav, target / wav.name)
    part.unlink()
    return target


def download(
    name: str,
    dest: str | Path,
    *,
    base_url: str | None = None,
    manifest: Manifest | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Fetch dataset ``name`` (``"mnist"`` or ``"fsdd"``) into ``dest/<name>/``; returns that folder.

    Args:
        name: the dataset.
        dest: the data root (what ``MCE_DATA_DIR`` should point at).
        base_url: fetch every file as ``base_url/<file name>`` instead of its upstream URL (a mirror).
        manifest: replaces the built-in files and checksums (mirrors with other content, tests).
        log: progress messages.

    Raises:
        ValueError: unknown or licensed dataset, or a checksum mismatch (naming the file).
    """
    if name in LICENSED:
        raise ValueError(f"{name} cannot be downloaded automatically:\n{LICENSED[name]}")
    if name not in MANIFESTS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(MANIFESTS) + sorted(LICENSED)}")
    spec = manifest if manifest is not None else MANIFESTS[name]
    folder = Path(dest) / spec.folder
    folder.mkdir(parents=True, exist_ok=True)

    def where(file_name: str, upstream: str) -> str:
        return upstream if base_url is None else f"{base_url.rstrip('/')}/{file_name}"

    for remote in spec.files:
        fetch_file(remote, folder, where(remote.name, remote.url), log)
    if spec.archive is not None:
        fetch_archive(spec.archive, folder, where(spec.archive.name, spec.archive.url), log)
    return folder
