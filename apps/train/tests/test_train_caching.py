"""Shared cache folders: two processes that need the same folder at once write it once, never half."""

import multiprocessing
import time
from pathlib import Path

import pytest

from mce_train.caching import exclusive, write_once


def _need(root: Path, log: Path) -> None:
    """One run needing ``root``: the writer logs each call and takes a while, as real generators do."""

    def write(folder: Path) -> None:
        with log.open("a") as f:
            f.write("write\n")
        folder.mkdir()
        (folder / "part").write_text("1")
        time.sleep(0.5)
        (folder / "done").write_text("ok")

    got = write_once(root, write)
    assert (got / "done").read_text() == "ok"  # never a half-written folder


def test_two_processes_write_a_shared_folder_once(tmp_path: Path) -> None:
    root, log = tmp_path / "synthetic", tmp_path / "calls.log"
    context = multiprocessing.get_context("fork")
    runs = [context.Process(target=_need, args=(root, log)) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(timeout=30)
    assert [run.exitcode for run in runs] == [0, 0]
    assert log.read_text() == "write\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calls.log", "synthetic", "synthetic.lock"]


def test_a_failed_write_leaves_no_folder_and_the_next_run_writes_it(tmp_path: Path) -> None:
    root = tmp_path / "data"

    def broken(folder: Path) -> None:
        folder.mkdir()
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_once(root, broken)
    assert not root.exists()
    write_once(root, lambda folder: folder.mkdir())
    assert root.is_dir()
    assert not list(tmp_path.glob("data.partial-*"))  # the same process cleared its leftover


def test_exclusive_lets_one_process_at_a_time(tmp_path: Path) -> None:
    lock, log = tmp_path / "x.lock", tmp_path / "order.log"

    def hold(name: str) -> None:
        with exclusive(lock):
            with log.open("a") as f:
                f.write(f"{name} in\n")
            time.sleep(0.3)
            with log.open("a") as f:
                f.write(f"{name} out\n")

    context = multiprocessing.get_context("fork")
    runs = [context.Process(target=hold, args=(name,)) for name in "ab"]
    for run in runs:
        run.start()
    for run in runs:
        run.join(timeout=30)
    first, second = log.read_text().splitlines()[:2]  # the first holder leaves before the next enters
    assert first.endswith(" in")
    assert second == first.replace(" in", " out")
