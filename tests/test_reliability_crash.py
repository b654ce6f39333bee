"""Crash safety: a build killed after any file operation leaves a tree where every
file is its old or its new version, the manifest covers every file gitopsgen
owns, leftover temporary files are not taken for content, and the next build
finishes the job. Failing disks (read-only, full) give a message and exit 2.

Crashes are simulated two ways with the ``fsio.before_operation`` hook, which
runs before every write, rename and removal:

* killed: a forked child runs the real CLI and calls ``os._exit`` at the Nth
  operation, so no ``finally``/``except`` cleanup runs (like SIGKILL or a crash);
* exception: the hook raises in-process at the Nth operation.

Read-only and full disks cannot be simulated with chmod because the tests run as
root, which ignores permissions; the hook raises ``OSError(EROFS)`` or
``OSError(ENOSPC)`` instead, in the place where the real write, rename or unlink
would fail. Power loss is not covered: gitopsgen does not fsync.
"""

from __future__ import annotations

import errno
import os
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import SEED_TENANTS, invoke
from gitopsgen import fsio, tree
from gitopsgen.config import load
from gitopsgen.plan import HEADER_PREFIX, MANIFEST, plan_project
from support.golden import tree_files

TMP_MARK = ".gitopsgen-tmp-"

ADD = SEED_TENANTS + "  - name: d\n    ip: 172.18.0.215\n  - name: e\n    ip: 172.18.0.216\n"
REMOVE = SEED_TENANTS.replace(
    SEED_TENANTS[SEED_TENANTS.index("  - name: b") : SEED_TENANTS.index("  - name: c")], ""
)
DEFAULT = SEED_TENANTS + textwrap.dedent(
    """\
    defaults:
      ingress:
        domain: example.org
      flux:
        interval: 7m
    """
)
MIXED = REMOVE.replace("- name: a\n", "- name: aa\n") + "defaults: {workload: {port: 8080}}\n"

Seed = tuple[Path, dict[str, bytes]]

SCENARIOS = {"add tenants": ADD, "remove a tenant": REMOVE, "change defaults": DEFAULT}
SCENARIOS["rename, remove and change"] = MIXED


def plan_bytes(cfg: Path) -> dict[str, bytes]:
    return plan_project(load(cfg)).contents()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "repo").mkdir()
    return tmp_path / "repo"


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """The seed built once per module (copied by every test): its tree and plan."""
    base = tmp_path_factory.mktemp("seed") / "repo"
    base.mkdir()
    cfg = base / "tenants.yaml"
    cfg.write_text(SEED_TENANTS)
    res = invoke("build", "-c", str(cfg))
    assert res.code == 0, res.err
    (base / "generated" / "NOTES.md").write_text("a file of the user's\n")
    return base / "generated", plan_bytes(cfg)


def prepare(
    repo: Path, new_text: str, seed: tuple[Path, dict[str, bytes]]
) -> tuple[Path, dict[str, bytes], dict[str, bytes]]:
    """The built seed (plus a foreign file), then ``new_text``; return the config, old
    and new plans. The prepared tree is kept beside as ``pristine`` for _restore."""
    template, old = seed
    shutil.copytree(template, repo / "generated", symlinks=True)
    shutil.copytree(template, repo.parent / "pristine", symlinks=True)
    cfg = repo / "tenants.yaml"
    cfg.write_text(new_text)
    new = plan_bytes(cfg)
    assert old != new
    return cfg, old, new


def assert_consistent(root: Path, old: dict[str, bytes], new: dict[str, bytes], *, n: int) -> None:
    disk = tree_files(root)
    assert disk.pop("NOTES.md") == b"a file of the user's\n", f"op {n}: foreign file touched"
    # A killed build may leave its journal and temporary files named with a token
    # the journal holds (and nothing else that is not content).
    journal = disk.pop(tree.JOURNAL, None)
    tokens: set[str] = set()
    if journal is not None:
        assert journal.startswith(fsio.JOURNAL_HEADER), f"op {n}: a torn journal"
        tokens = set(journal[len(fsio.JOURNAL_HEADER) :].decode().split())
    temporaries = [rel for rel in disk if TMP_MARK in rel]
    for rel in temporaries:
        assert fsio.token_of(rel.rsplit("/", 1)[-1]) in tokens, f"op {n}: unjournalled {rel}"
        del disk[rel]
    manifest = disk.pop(MANIFEST)
    owned = {line for line in manifest.decode().splitlines() if line and not line.startswith("#")}
    for rel in sorted(set(old) | set(new) | set(disk)):
        if rel == MANIFEST:
            continue
        have = disk.get(rel)
        assert have in (old.get(rel), new.get(rel)), f"op {n}: {rel} is neither old nor new"
        if have is not None:
            assert have.startswith(HEADER_PREFIX.encode())
            assert rel in owned, f"op {n}: {rel} is owned but not in the manifest"
    # The manifest is the old one, the new one, or the widened one in between.
    assert manifest in (old[MANIFEST], new[MANIFEST]) or owned == (set(old) | set(new)) - {
        MANIFEST
    }, f"op {n}: unexpected manifest"


def assert_finished(cfg: Path, root: Path, new: dict[str, bytes], *, n: int) -> None:
    res = invoke("build", "-c", str(cfg))
    assert res.code == 0, f"op {n}: {res.err}"
    disk = tree_files(root)
    assert disk.pop("NOTES.md") == b"a file of the user's\n"
    # Byte for byte the new plan (no journal, no temporary, no stale file left): what
    # check calls in sync; the real check runs once per test, after the loop.
    assert disk == new, f"op {n}: the next build did not finish the job"


def count_operations(cfg: Path) -> int:
    """How many hooked operations a build from the prepared state makes (no writing)."""
    ops: list[tuple[str, str]] = []

    def hook(kind: str, path: str) -> None:
        ops.append((kind, path))

    project = load(cfg)
    plan = plan_project(project)
    # Count on a copy so the real tree stays in the prepared state.
    copy = project.output_dir.parent / "count-copy"
    shutil.copytree(project.output_dir, copy, symlinks=True)
    fsio.before_operation = hook
    try:
        tree.write(plan, copy)
    finally:
        fsio.before_operation = None
        shutil.rmtree(copy)
    kinds = {kind for kind, _ in ops}
    assert {"write", "rename"} <= kinds
    return len(ops)


def killed_build(cfg: Path, n: int) -> int:
    """Run the CLI build in a forked child that dies at operation ``n``; its exit code."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 70
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            seen = 0

            def hook(kind: str, path: str) -> None:
                nonlocal seen
                if seen == n:
                    os._exit(99)  # no cleanup at all: like SIGKILL
                seen += 1

            fsio.before_operation = hook
            from gitopsgen.cli import main

            try:
                main(["build", "-c", str(cfg)])
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_killed_after_every_operation(repo: Path, seed: Seed, scenario: str) -> None:
    cfg, old, new = prepare(repo, SCENARIOS[scenario], seed)
    root = repo / "generated"
    total = count_operations(cfg)
    removed = set(old) - set(new)
    assert total >= len(removed) + 2 * len(new.keys() - old.keys()), "too few operations"
    pristine = repo.parent / "pristine"
    for n in range(total + 1):
        # Restore the prepared state (old tree + foreign file), then crash at op n.
        _restore(root, pristine)
        code = killed_build(cfg, n)
        if n < total:
            assert code == 99, f"op {n}: the child did not crash ({code})"
        else:
            assert code == 0, "the uninterrupted build failed"
        assert_consistent(root, old, new, n=n)
        assert_finished(cfg, root, new, n=n)
        assert not [p for p in root.rglob("*") if TMP_MARK in p.name], "temp file left"
    check = invoke("check", "-c", str(cfg))  # the real command agrees with in_sync
    assert check.code == 0, check.err


class _Boom(Exception):
    pass


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_exception_after_every_operation(repo: Path, seed: Seed, scenario: str) -> None:
    cfg, old, new = prepare(repo, SCENARIOS[scenario], seed)
    root = repo / "generated"
    total = count_operations(cfg)
    pristine = repo.parent / "pristine"
    plan = plan_project(load(cfg))
    for n in range(total):
        _restore(root, pristine)
        with _hook(_raise_at(n, lambda: _Boom())), pytest.raises(_Boom):
            tree.write(plan, root)
        assert_consistent(root, old, new, n=n)
        # In-process failures clean up their own temporary file.
        assert not [p for p in root.rglob("*") if TMP_MARK in p.name], f"op {n}: temp file left"
        assert_finished(cfg, root, new, n=n)
    check = invoke("check", "-c", str(cfg))
    assert check.code == 0, check.err


@pytest.mark.parametrize(
    ("code", "words"),
    [(errno.EROFS, "Read-only file system"), (errno.ENOSPC, "No space left on device")],
)
@pytest.mark.parametrize("scenario", ["add tenants", "remove a tenant"])
def test_read_only_or_full_disk(
    repo: Path, seed: Seed, scenario: str, code: int, words: str
) -> None:
    cfg, old, new = prepare(repo, SCENARIOS[scenario], seed)
    root = repo / "generated"
    total = count_operations(cfg)
    pristine = repo.parent / "pristine"
    for n in range(0, total, 3):
        _restore(root, pristine)
        with _hook(_raise_at(n, lambda: OSError(code, os.strerror(code)))):
            res = invoke("build", "-c", str(cfg))
        assert res.code == 2, f"op {n}: {res.err}"
        assert words in res.err
        assert str(root) in res.err
        assert "Traceback" not in res.err and "internal error" not in res.err
        assert not [p for p in root.rglob("*") if TMP_MARK in p.name], f"op {n}: temp file left"
        assert_consistent(root, old, new, n=n)
        # check tells the truth about the half-done tree, and a later build finishes.
        if n:
            assert invoke("check", "-c", str(cfg)).code == 1
        assert_finished(cfg, root, new, n=n)


def test_leftover_temporary_files_are_not_content(repo: Path, seed: Seed) -> None:
    cfg, _, new = prepare(repo, ADD, seed)
    root = repo / "generated"
    assert invoke("build", "-c", str(cfg)).code == 0
    # What a build killed between creating and renaming its temporaries leaves.
    token = "0123456789abcdef"
    (root / tree.JOURNAL).write_bytes(fsio.JOURNAL_HEADER + token.encode() + b"\n")
    leftovers = [
        root / f".kustomization.yaml{TMP_MARK}{token}",
        root / "clusters" / f".x.yaml{TMP_MARK}{token}",
    ]
    for path in leftovers:
        path.write_bytes(b"half a file")
    check = invoke("check", "-c", str(cfg))
    assert check.code == 0, check.err
    assert TMP_MARK not in check.out + check.err
    assert tree.JOURNAL not in check.out + check.err
    assert invoke("build", "-c", str(cfg)).code == 0
    assert not any(path.exists() for path in leftovers)
    disk = tree_files(root)
    disk.pop("NOTES.md")
    assert disk == new


def test_forged_manifest_lines_never_reach_outside(repo: Path, seed: Seed) -> None:
    cfg, _, _ = prepare(repo, ADD, seed)
    root = repo / "generated"
    outside = repo / "empty-dir-of-the-user" / "sub"
    outside.mkdir(parents=True)
    manifest = root / MANIFEST
    manifest.write_bytes(
        manifest.read_bytes()
        + b"../empty-dir-of-the-user/sub/x.yaml\n/etc/x\n./NOTES.md\nclusters//y\n"
    )
    assert invoke("build", "-c", str(cfg)).code == 0
    assert outside.is_dir(), "build removed a directory outside its output"
    assert (root / "NOTES.md").exists()


# -- helpers ------------------------------------------------------------------------------


def _restore(root: Path, pristine: Path) -> None:
    shutil.rmtree(root)
    shutil.copytree(pristine, root, symlinks=True)


def _raise_at(n: int, make: Callable[[], BaseException]) -> Callable[[str, str], None]:
    seen = 0

    def hook(kind: str, path: str) -> None:
        nonlocal seen
        if seen == n:
            seen += 1
            raise make()
        seen += 1

    return hook


class _hook:
    def __init__(self, hook: Callable[[str, str], None]) -> None:
        self.hook = hook

    def __enter__(self) -> None:
        fsio.before_operation = self.hook

    def __exit__(self, *exc: object) -> None:
        fsio.before_operation = None
