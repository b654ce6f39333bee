"""The pool of writer threads (tree.POOL_MIN_FILES or more files): the same tree as
writing in order, and a failure half-way leaves every file old or new, the manifest
covering every file written, and the next build finishing the job."""

from __future__ import annotations

import errno
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import invoke
from gitopsgen import fsio, tree
from gitopsgen.plan import MANIFEST
from support.golden import tree_files

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    text = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--generate", "40"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".git").mkdir()
    (repo / "tenants.yaml").write_text(text)
    return repo


def test_the_pool_writes_what_writing_in_order_writes(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert invoke("build", "-q", cwd=repo).code == 0
    pooled = tree_files(repo / "generated")
    assert len(pooled) >= tree.POOL_MIN_FILES
    monkeypatch.setattr(tree, "POOL_MIN_FILES", 10**9)
    (repo / "generated").rename(tmp_path / "old")
    assert invoke("build", "-q", cwd=repo).code == 0
    assert tree_files(repo / "generated") == pooled


def test_a_failure_in_a_writer_stops_the_build_and_the_next_one_finishes(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    count = 0
    lock = threading.Lock()

    def disk_full(kind: str, where: str) -> None:
        nonlocal count
        if kind != "write" or where.endswith(MANIFEST):
            return
        with lock:
            count += 1
            if count == 100:
                raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fsio, "before_operation", disk_full)
    res = invoke("build", "-q", cwd=repo)
    assert res.code == 2
    assert "No space left on device" in res.err
    out = repo / "generated"
    # A failure while the temporaries are written undoes them (and the directories
    # made for them): whatever is left is owned, and no temporary stays.
    written = tree_files(out)
    listed = set(written.get(MANIFEST, b"").decode().splitlines())
    assert set(written) - {MANIFEST, tree.JOURNAL} <= listed  # every file written is owned
    assert not [p for p in written if fsio.TMP_MARK in p]
    monkeypatch.setattr(fsio, "before_operation", None)
    assert invoke("build", "-q", cwd=repo).code == 0
    assert invoke("check", "-q", cwd=repo).code == 0
