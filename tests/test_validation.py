"""Invalid cases: tests/cases/invalid/<name>/tenants.yaml is rejected with exit code 2,
exactly the lines of expected.txt on stderr (``tenants.yaml:LINE:COL: key.path: message``),
and nothing written. Regenerate expected.txt with GITOPSGEN_UPDATE_GOLDEN=1, then review."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import invoke
from gitopsgen.config import parse
from gitopsgen.errors import ConfigError
from support.golden import INVALID, invalid_cases, updating


def _repo(case: str, tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copyfile(INVALID / case / "tenants.yaml", repo / "tenants.yaml")
    return repo


def _everything(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@pytest.mark.parametrize("case", invalid_cases())
def test_build_rejects_invalid_input(case: str, tmp_path: Path) -> None:
    repo = _repo(case, tmp_path)
    res = invoke("build", "-c", "tenants.yaml", cwd=repo)
    expected_file = INVALID / case / "expected.txt"
    if updating():
        expected_file.write_text(res.err)
    assert res.code == 2, res.out + res.err
    assert res.err == expected_file.read_text()
    assert res.out == ""
    # Nothing written anywhere: not the output directory, not a lock or manifest.
    assert _everything(tmp_path) == {"repo", "repo/tenants.yaml"}


@pytest.mark.parametrize("case", invalid_cases())
def test_check_reports_the_same_problems(case: str, tmp_path: Path) -> None:
    repo = _repo(case, tmp_path)
    res = invoke("check", "-c", "tenants.yaml", cwd=repo)
    assert res.code == 2
    assert res.err == (INVALID / case / "expected.txt").read_text()
    assert _everything(tmp_path) == {"repo", "repo/tenants.yaml"}


def test_every_invalid_case_has_expected_text() -> None:
    for case in invalid_cases():
        text = (INVALID / case / "expected.txt").read_text()
        assert text.endswith("\n") and text.strip(), case
        for line in text.splitlines():
            assert line.startswith("tenants.yaml:"), (case, line)


def test_problems_are_sorted_by_position() -> None:
    for case in invalid_cases():
        positions = [
            tuple(int(n) for n in line.split(":")[1:3])
            for line in (INVALID / case / "expected.txt").read_text().splitlines()
        ]
        assert positions == sorted(positions), case


def test_many_errors_are_reported_at_once() -> None:
    """Schema and cross-field problems of one file come out together."""
    with pytest.raises(ConfigError) as info:
        parse((INVALID / "many-errors" / "tenants.yaml").read_bytes())
    assert len(info.value.problems) >= 8
    keys = {p.key_path for p in info.value.problems}
    assert {"pool[1]", "reserved.dns", "tenants[1].ip", "tenants[2].name"} <= keys
    assert {"tenants[3].name", "tenants[3].colour", "tenants[4]"} <= keys


def test_validate_reports_like_build(tmp_path: Path) -> None:
    repo = _repo("ip-used-twice", tmp_path)
    res = invoke("validate", "-c", "tenants.yaml", cwd=repo)
    assert res.code == 2
    assert res.err == (INVALID / "ip-used-twice" / "expected.txt").read_text()


def test_label_is_the_path_given(tmp_path: Path) -> None:
    """Messages name the file relative to the repository root (its directory when it is
    in no Git work tree), or absolute with --absolute."""
    repo = _repo("duplicate-name", tmp_path)
    res = invoke("validate", "-c", str(repo / "tenants.yaml"))
    assert res.code == 2
    assert res.err.startswith("tenants.yaml:11:11: tenants[2].name: ")
    res = invoke("validate", "--absolute", "-c", str(repo / "tenants.yaml"))
    assert res.err.startswith(f"{repo / 'tenants.yaml'}:11:11: tenants[2].name: ")
    (repo / "sub").mkdir()
    (repo / "sub" / "tenants.yaml").write_bytes((repo / "tenants.yaml").read_bytes())
    (repo / ".git").mkdir()  # the repository root is now repo/
    res = invoke("validate", "-c", "tenants.yaml", cwd=repo / "sub")
    assert res.err.startswith("sub/tenants.yaml:11:11: tenants[2].name: ")


def test_missing_config_file(tmp_path: Path) -> None:
    res = invoke("build", "-c", "nope.yaml", cwd=tmp_path)
    assert res.code == 2
    # No made-up location: the file is not there, so it has no line 1.
    assert res.err == "gitopsgen: nope.yaml: no such file; create it, or pass -c PATH\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "ok"),
    [("a" * 44, True), ("a" * 45, False), ("a" * 63, False), ("a-1", True), ("1a", True)],
)
def test_name_length_limit(name: str, ok: bool) -> None:
    text = f"version: 1\npool: 10.0.0.0/24\ntenants:\n  - name: {name}\n    ip: 10.0.0.1\n"
    if ok:
        parse(text)
        return
    with pytest.raises(ConfigError) as info:
        parse(text)
    (problem,) = info.value.problems
    assert problem.key_path == "tenants[0].name"
    assert f"Helm release name 'vcluster-{name}' would be {9 + len(name)} characters" in (
        problem.message
    )
    assert "the limit is 53" in problem.message
