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
    [("a" * 43, True), ("a" * 44, False), ("a" * 63, False), ("a-1", True), ("1a", True)],
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
    assert f"StatefulSet (Helm release) name 'vcluster-{name}' would be {9 + len(name)} " in (
        problem.message
    )
    assert "the limit is 52" in problem.message


def test_a_44_character_name_is_refused() -> None:
    """Issue 12 item 3: 44 characters gave a 53-character release and StatefulSet, whose
    pods' controller-revision-hash label exceeds 63 characters (kubernetes#64023)."""
    name = "customer-portal-payments-eu-central-1-prod-a"
    text = f"version: 1\npool: 10.0.0.0/24\ntenants:\n  - name: {name}\n    ip: 10.0.0.1\n"
    with pytest.raises(ConfigError) as info:
        parse(text)
    assert [p.format() for p in info.value.problems] == [
        f"tenants.yaml:4:11: tenants[0].name: {name!r} is too long: StatefulSet (Helm "
        f"release) name 'vcluster-{name}' would be 53 characters, the limit is 52 (names "
        "may have at most 43)"
    ]


# --- listener hostnames (issue 12 item 4) ------------------------------------------

LISTENERS = """\
version: 1
pool: 10.0.0.0/24
defaults:
  ingress:
{ingress}
tenants:
  - name: a
    ip: 10.0.0.10
    hostname: {host}
"""


def _listener_problems(ingress: str, host: str) -> list[str]:
    try:
        parse(LISTENERS.format(ingress=ingress, host=host))
    except ConfigError as exc:
        return [p.format() for p in exc.problems]
    return []


def test_a_hostname_outside_the_gateway_listeners_is_refused() -> None:
    """A custom hostname on a Gateway whose listeners serve *.traefik.local: Traefik
    marks the HTTPRoute NoMatchingListenerHostname."""
    assert _listener_problems("    domain: traefik.local", "shop.example.com") == [
        "tenants.yaml:9:15: tenants[0].hostname: hostname 'shop.example.com' matches no "
        "listener hostname of the Gateway (*.traefik.local): its HTTPRoute would not be "
        "accepted (NoMatchingListenerHostname); list the Gateway's listener hostnames in "
        "defaults.ingress.listenerHostnames"
    ]


@pytest.mark.parametrize(
    ("listeners", "host", "ok"),
    [
        ('["*.example.com"]', "test.example.com", True),
        ('["*.example.com"]', "foo.test.example.com", True),  # any number of labels
        ('["*.example.com"]', "example.com", False),  # the suffix alone does not match
        ('["*.example.com"]', "test.example.net", False),
        ('["test.example.com"]', "test.example.com", True),
        ('["test.example.com"]', "foo.test.example.com", False),
        ('["*.traefik.local", shop.example.com]', "shop.example.com", True),
        ("[]", "anything.example", True),  # a listener without hostname takes every route
    ],
)
def test_listener_matching_follows_gateway_api(listeners: str, host: str, ok: bool) -> None:
    problems = _listener_problems(f"    listenerHostnames: {listeners}", host)
    assert (problems == []) is ok, problems


def test_a_listener_hostname_must_be_a_hostname() -> None:
    assert _listener_problems('    listenerHostnames: ["*", "a.*.b"]', "a.b") == [
        "tenants.yaml:5:25: defaults.ingress.listenerHostnames[0]: '*' is not a listener "
        "hostname: a hostname, optionally starting with the wildcard label '*.'",
        "tenants.yaml:5:30: defaults.ingress.listenerHostnames[1]: 'a.*.b' is not a listener "
        "hostname: a hostname, optionally starting with the wildcard label '*.'",
    ]


# --- every problem in one run (issue 12 items 8 and 9) ------------------------------


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(text)
    return [p.format() for p in info.value.problems]


def test_a_bad_pool_entry_does_not_hide_an_address_outside_the_pool() -> None:
    text = (
        "version: 1\npool:\n  - 10.0.0.0/24\n  - 10.0.1.0-nonsense\n"
        "tenants:\n  - name: a\n    ip: 10.9.9.9\n"
    )
    assert _problems(text) == [
        "tenants.yaml:4:5: pool[1]: range '10.0.1.0-nonsense': 'nonsense' is not a valid IPv4 "
        "address",
        "tenants.yaml:7:9: tenants[0].ip: 10.9.9.9 is outside the pool",
    ]


def test_a_duplicate_key_does_not_hide_the_other_problems() -> None:
    text = "version: 1\npool: 10.0.0.0/24\npool: 10.0.1.0/24\ncolour: red\ntenants: []\n"
    assert _problems(text) == [
        "tenants.yaml:3:1: pool: duplicate key 'pool' (first defined at line 2, column 1)",
        "tenants.yaml:4:1: colour: unknown key 'colour'",
    ]


def test_validate_reports_an_undeclared_dependency() -> None:
    text = (
        "version: 1\npool: 10.0.0.0/24\ndefaults:\n  flux:\n"
        "    networkPoliciesDependsOn: [calico]\ntenants: []\n"
    )
    assert _problems(text) == [
        "tenants.yaml:5:32: defaults.flux.networkPoliciesDependsOn[0]: 'calico' is neither a "
        "Flux Kustomization the tree generates nor declared external: the generated "
        "Kustomizations would wait for flux-system/calico forever; add 'calico' to "
        "defaults.flux.external if it is a Flux Kustomization of the platform"
    ]


def test_a_huge_integer_is_a_short_located_problem(tmp_path: Path) -> None:
    text = (
        "version: 1\npool: 10.0.0.0/24\ndefaults:\n  workload:\n"
        f"    port: {'9' * 5000}\ntenants: []\n"
    )
    expected = (
        "tenants.yaml:5:11: defaults.workload.port: integer 999999999999... has 5000 digits; "
        "far too large"
    )
    assert _problems(text) == [expected]
    (tmp_path / "tenants.yaml").write_text(text)
    for command in ("validate", "build", "check", "ips", "hosts"):
        res = invoke(command, cwd=tmp_path)
        assert res.code == 2, (command, res.err)
        assert res.err == expected + "\n", command


def test_import_of_a_huge_integer_does_not_crash(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(Path(__file__).parent / "fixtures" / "seedlike", repo)
    (repo / "infrastructure/huge.yaml").write_text(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  n: {'9' * 5000}\n"
    )
    res = invoke("import", str(repo), "-o", "-")
    assert res.code == 0, res.err
    assert (
        "  infrastructure/huge.yaml: not readable YAML, skipped (an integer of more than "
        "4300 digits)" in res.err.splitlines()
    )
