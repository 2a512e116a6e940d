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
from typing import ClassVar

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


class _RangeHandler(_QuietHandler):
    """Honours ``Range: bytes=N-`` like a real server: 206 with the rest, 416 when N is past the end."""

    ranges: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        header = self.headers.get("Range")
        if header is None:
            super().do_GET()
            return
        type(self).ranges.append(header)
        data = (Path(self.directory) / self.path.lstrip("/")).read_bytes()
        start = int(header.removeprefix("bytes=").rstrip("-"))
        if start >= len(data):
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])


@pytest.fixture
def range_served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    folder = tmp_path / "ranged"
    folder.mkdir()
    _RangeHandler.ranges = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_RangeHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_complete_part_file_is_not_resumed(real_data: Path, range_served: tuple[Path, str], tmp_path: Path) -> None:
    folder, url = range_served
    source = real_data / "mnist" / "t10k-labels-idx1-ubyte.gz"
    (folder / source.name).write_bytes(source.read_bytes())
    remote = next(r for r in MANIFESTS["mnist"].files if r.name == source.name)
    dest = tmp_path / "data" / "mnist"
    dest.mkdir(parents=True)
    (dest / (source.name + ".part")).write_bytes(source.read_bytes())  # a finished download, not yet renamed
    download("mnist", tmp_path / "data", base_url=url, manifest=Manifest("mnist", files=(remote,)), log=lambda _: None)
    assert (dest / source.name).read_bytes() == source.read_bytes()
    assert _RangeHandler.ranges == []  # verified locally, no range request that a server answers 416
    half = source.read_bytes()[: len(source.read_bytes()) // 2]
    (dest / source.name).unlink()
    (dest / (source.name + ".part")).write_bytes(half)  # a true partial download is resumed
    download("mnist", tmp_path / "data", base_url=url, manifest=Manifest("mnist", files=(remote,)), log=lambda _: None)
    assert (dest / source.name).read_bytes() == source.read_bytes()
    assert _RangeHandler.ranges == [f"bytes={len(half)}-"]


def test_archive_part_answered_416_restarts(real_data: Path, range_served: tuple[Path, str], tmp_path: Path) -> None:
    folder, url = range_served
    zip_name, digest = _fsdd_zip(real_data, folder, ["0_theo_0.wav", "3_jackson_12.wav"])
    archive = RemoteArchive(zip_name, "unused", "recordings", "recordings", digest, 2)
    dest = tmp_path / "data" / "fsdd"
    dest.mkdir(parents=True)
    (dest / (zip_name + ".part")).write_bytes((folder / zip_name).read_bytes() + b"extra")  # longer than the file
    download("fsdd", tmp_path / "data", base_url=url, manifest=Manifest("fsdd", archive=archive), log=lambda _: None)
    assert sorted(p.name for p in (dest / "recordings").iterdir()) == ["0_theo_0.wav", "3_jackson_12.wav"]
    assert len(_RangeHandler.ranges) == 1


def test_offline_error_names_the_file_and_the_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    remote = MANIFESTS["mnist"].files[0]
    url = "http://127.0.0.1:9"  # discard port: connection refused
    with pytest.raises(OSError, match=rf"{remote.name}: cannot fetch {url}/{remote.name}"):
        download("mnist", tmp_path, base_url=url, manifest=Manifest("mnist", files=(remote,)), log=lambda _: None)


def test_help_has_no_rst_markup(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "usage: python -m mce_data" in out
    assert "``" not in out
