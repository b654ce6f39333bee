"""Progress on a terminal (gitopsgen.progress): counts while building, what a lock
wait waits for; nothing at all when standard error is not a terminal or --quiet."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import invoke

ROOT = Path(__file__).resolve().parents[1]
GITOPSGEN = Path(sys.executable).parent / "gitopsgen"


def _bench_yaml(n: int) -> str:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--generate", str(n)],
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout


def _on_a_terminal(args: list[str], cwd: Path, timeout: float = 120) -> tuple[int, str]:
    """Run gitopsgen with standard error on a pseudo-terminal; (exit code, what it showed)."""
    master, slave = pty.openpty()
    env = {**os.environ, "GITOPSGEN_NO_CACHE": "1"}
    proc = subprocess.Popen(
        [str(GITOPSGEN), *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=slave, env=env
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    code = proc.wait(timeout=timeout)
    os.close(master)
    return code, b"".join(chunks).decode(errors="replace")


@pytest.fixture
def big(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "tenants.yaml").write_text(_bench_yaml(300))
    return repo


def test_build_shows_progress_on_a_terminal(big: Path) -> None:
    code, shown = _on_a_terminal(["build"], big)
    assert code == 0, shown
    assert "tenants rendered: 300 of 300" in shown
    assert re.search(r"files written: ([0-9,]+) of \1", shown)
    assert "\r" in shown  # redrawn in place


def test_quiet_shows_nothing_on_a_terminal(big: Path) -> None:
    code, shown = _on_a_terminal(["build", "-q"], big)
    assert code == 0
    assert shown == ""


def test_nothing_changes_when_piped(big: Path) -> None:
    res = invoke("build", cwd=big)
    assert res.code == 0
    assert res.err == ""
    assert "\r" not in res.out
    piped = subprocess.run(
        [str(GITOPSGEN), "check"], cwd=big, capture_output=True, text=True, check=False
    )
    assert piped.returncode == 0, piped.stderr
    assert "rendered" not in piped.stderr + piped.stdout


def test_a_lock_wait_says_what_it_waits_for(big: Path) -> None:
    assert invoke("build", "-q", cwd=big).code == 0
    out = big / "generated"
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        master, slave = pty.openpty()
        proc = subprocess.Popen(
            [str(GITOPSGEN), "build"],
            cwd=big,
            stdout=subprocess.DEVNULL,
            stderr=slave,
            env={**os.environ, "GITOPSGEN_NO_CACHE": "1"},
        )
        os.close(slave)
        seen = b""
        deadline = time.monotonic() + 60
        while b"waiting for" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                seen += os.read(master, 65536)
        fcntl.flock(fd, fcntl.LOCK_UN)
        assert proc.wait(timeout=60) == 0
        os.close(master)
    finally:
        os.close(fd)
    text = seen.decode(errors="replace")
    assert "waiting for" in text
    assert "generated" in text  # says which directory's lock
