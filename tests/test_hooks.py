"""The `files:` patterns of .pre-commit-hooks.yaml match every file `check` reads.

pre-commit runs a hook only when a staged file matches its `files` pattern
(`re.search` on the path relative to the repository root: pre-commit's
pre_commit/commands/run.py, `filter_by_include_exclude`). A pattern that misses a file
`check` reads lets a commit that breaks the tree through that file pass unchecked; as
check-jsonschema tests its hooks' patterns against the files they are meant for, this
test records every file `check` opens (a `sys.addaudithook` hook on `open`) in a wired
seed repository and asserts each one matches.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from conftest import REPO, SEED_TENANTS, invoke
from gitopsgen import api

_RECORDING: list[list[str]] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _RECORDING and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        _RECORDING[-1].append(os.fsdecode(args[0]))


sys.addaudithook(_audit)


def _hook(hook_id: str) -> re.Pattern[str]:
    hooks = {h["id"]: h for h in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    return re.compile(hooks[hook_id]["files"])


def _read_by_check(repo: Path) -> set[str]:
    _RECORDING.append([])
    try:
        report = api.check(repo / "tenants.yaml")
    finally:
        opened = _RECORDING.pop()
    assert report.status == "ok", report.summary
    rels = set()
    for path in opened:
        rel = os.path.relpath(os.path.abspath(path), repo)
        if not rel.startswith(".."):
            rels.add(Path(rel).as_posix())
    return rels


def _wired(project: Callable[[str], Path]) -> Path:
    """The seed, built, wired the seed's way plus one kustomization reached through a
    local directory (which check follows)."""
    repo = project(SEED_TENANTS).parent
    assert invoke("build", "-q", "-c", "tenants.yaml", cwd=repo).code == 0
    host = repo / "clusters/host-cluster"
    host.mkdir(parents=True)
    (host / "kustomization.yaml").write_text("resources:\n  - ./tenants\n")
    (host / "tenants").mkdir()
    (host / "tenants/kustomization.yaml").write_text(
        "resources:\n  - ../../../generated/clusters/host-cluster\n"
    )
    traefik = repo / "infrastructure/traefik/config"
    traefik.mkdir(parents=True)
    (traefik / "kustomization.yaml").write_text(
        "resources:\n  - ../../../generated/infrastructure/traefik/config\n"
    )
    return repo


def test_check_patterns_match_every_file_check_reads(
    project: Callable[[str], Path],
) -> None:
    repo = _wired(project)
    route = repo / "generated/tenant/tenant-a/routes/nginx_httproute.yaml"
    read = _read_by_check(repo)
    assert "tenants.yaml" in read
    assert "clusters/host-cluster/tenants/kustomization.yaml" in read
    assert "infrastructure/traefik/config/kustomization.yaml" in read
    pattern = _hook("gitopsgen-check")
    missed = sorted(rel for rel in read if not pattern.search(rel))
    assert missed == [], f"check reads files its hook does not run for: {missed}"
    # Every file of the tree matches too (one edited or added there is drift).
    tree = [p.relative_to(repo).as_posix() for p in (repo / "generated").rglob("*") if p.is_file()]
    assert route.relative_to(repo).as_posix() in tree
    assert all(pattern.search(rel) for rel in tree)


def test_patterns_skip_files_check_does_not_read(project: Callable[[str], Path]) -> None:
    pattern = _hook("gitopsgen-check")
    for rel in ("README.md", "docs/tenants.md", "src/app.py", "docs/diagram.svg"):
        assert not pattern.search(rel), rel
    # Any YAML file may be listed by a kustomization that the repository check follows
    # (a hand-kept manifest can define an object twice), so every one runs the hook.
    assert pattern.search("apps/web/deployment.yaml")
    validate = _hook("gitopsgen-validate")
    assert validate.search("tenants.yaml") and validate.search("platform/tenants.yml")
    assert not validate.search("generated/tenant/tenant-a/tenant-a_namespace.yaml")
