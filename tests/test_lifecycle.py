"""add-tenant and remove-tenant: tenants.yaml edited in place, comments and layout kept."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SEED_TENANTS, invoke
from gitopsgen.config import parse
from gitopsgen.edit import EditError, add_tenant, remove_tenant

REPO = Path(__file__).resolve().parents[1]

COMMENTED = textwrap.dedent(
    """\
    # yaml-language-server: $schema=schema/tenants.schema.json
    # Header: the platform's tenants.
    version: 1
    output: generated   # end-of-line comment on a top-level key

    pool:
      - 172.18.0.200-172.18.0.220   # the MetalLB pool
    reserved:
      traefik: '172.18.0.200'   # quoted on purpose
      grafana: "172.18.0.212"

    # Tenants, in order of arrival.
    tenants:
      # heads tenant a
      - name: a                    # tenant-a / vcluster-a
        ip: 172.18.0.210           # vcluster LoadBalancer IP

      # heads tenant b
      - name: b
        ip: 172.18.0.211
        # inside tenant b
        vcluster:
          authDelegator: true      # the ClusterRoleBinding
          values:
            sync:
              fromHost:
                nodes: {enabled: true, syncBackChanges: false}
        # still inside tenant b, at the end
      # heads tenant c
      - name: c
        ip: 172.18.0.214

    # Footer comment after the tenants.
    """
)


def comments(text: str) -> list[str]:
    """Every comment in the text: whole-line comments and end-of-line comments."""
    found = []
    for line in text.splitlines():
        if "#" in line:
            found.append(line[line.index("#") :].strip())
    return found


# ---------------------------------------------------------------- edit functions


@pytest.mark.parametrize("text", [SEED_TENANTS, COMMENTED, (REPO / "tenants.yaml").read_text()])
def test_add_then_remove_is_byte_identical(text):
    added = add_tenant(text, "d")
    assert added.text != text
    assert remove_tenant(added.text, "d").text == text


def test_add_keeps_every_comment_and_line_and_appends_in_the_files_indentation():
    result = add_tenant(COMMENTED, "d", "172.18.0.215")
    assert comments(result.text) == comments(COMMENTED)
    old_lines = COMMENTED.splitlines()
    new_lines = result.text.splitlines()
    # Exactly two new lines, right after tenant c, in the file's own indentation.
    at = old_lines.index("    ip: 172.18.0.214") + 1
    assert new_lines == [*old_lines[:at], "  - name: d", "    ip: 172.18.0.215", *old_lines[at:]]
    config, _ = parse(result.text)
    assert [(t.name, t.ip) for t in config.tenants][-1] == ("d", "172.18.0.215")


def test_remove_takes_the_tenants_lines_and_own_comments_only():
    result = remove_tenant(COMMENTED, "b")
    assert "# heads tenant b" not in result.text
    assert "# inside tenant b" not in result.text
    assert "# still inside tenant b, at the end" not in result.text
    assert "# the ClusterRoleBinding" not in result.text
    # The comment heading the next tenant stays, and so does everything else.
    removed = {
        "# heads tenant b",
        "# inside tenant b",
        "# the ClusterRoleBinding",
        "# still inside tenant b, at the end",
    }
    assert comments(result.text) == [c for c in comments(COMMENTED) if c not in removed]
    assert "  # heads tenant c\n  - name: c\n" in result.text
    # The blank line that separated a from b still separates a from c, once.
    assert "172.18.0.210           # vcluster LoadBalancer IP\n\n  # heads tenant c" in result.text


def test_remove_first_and_last_keep_neighbours_comments():
    first = remove_tenant(COMMENTED, "a")
    assert "# heads tenant a" not in first.text
    assert "# tenant-a / vcluster-a" not in first.text
    assert "# Tenants, in order of arrival.\ntenants:\n" in first.text
    assert "# heads tenant b" in first.text
    last = remove_tenant(COMMENTED, "c")
    assert "# heads tenant c" not in last.text
    assert "# still inside tenant b, at the end" in last.text
    assert last.text.endswith("\n\n# Footer comment after the tenants.\n")


def test_every_comment_survives_add_and_remove_of_every_tenant():
    text = add_tenant(COMMENTED, "d").text
    text = add_tenant(text, "e").text
    text = remove_tenant(text, "e").text
    text = remove_tenant(text, "d").text
    assert text == COMMENTED


def test_remove_every_tenant_then_add_one_keeps_the_rest_of_the_file():
    text = COMMENTED
    for name in "abc":
        text = remove_tenant(text, name).text
    assert "tenants: []\n" in text
    assert parse(text)[0].tenants == []
    text = add_tenant(text, "z").text
    config, _ = parse(text)
    assert [t.name for t in config.tenants] == ["z"]
    for comment in (
        "# Header: the platform's tenants.",
        "# the MetalLB pool",
        "# quoted on purpose",
    ):
        assert comment in text
    assert "traefik: '172.18.0.200'" in text  # quotes kept by the round trip
    assert "  - name: z\n    ip: 172.18.0.201\n" in text


@pytest.mark.parametrize(
    "tenants_part",
    ["tenants: []\n", "", "tenants: [{name: a, ip: 172.18.0.210}]\n"],
    ids=["empty-list", "missing-key", "flow"],
)
def test_add_to_other_layouts_goes_through_the_round_trip(tenants_part):
    text = (
        "# header\nversion: 1\npool:\n  - 172.18.0.200-172.18.0.220   # pool\n"
        "reserved:\n  traefik: 172.18.0.200\n" + tenants_part
    )
    result = add_tenant(text, "d")
    config, _ = parse(result.text)
    assert "d" in [t.name for t in config.tenants]
    assert result.address == "172.18.0.201"
    assert "# header" in result.text and "# pool" in result.text
    if tenants_part.startswith("tenants: [{"):
        back = remove_tenant(result.text, "d")
        assert [t.name for t in parse(back.text)[0].tenants] == ["a"]


def test_indentation_is_detected_from_the_tenants_list():
    text = textwrap.dedent(
        """\
        version: 1
        pool: 10.0.0.0/29
        tenants:
        -   name: a
            ip: 10.0.0.1
        """
    )
    result = add_tenant(text, "b")
    assert result.text.endswith("-   name: b\n    ip: 10.0.0.2\n")
    assert remove_tenant(result.text, "b").text == text


def test_cidr_network_and_broadcast_addresses_are_not_picked():
    text = "version: 1\npool: 10.0.0.0/30\ntenants:\n  - name: a\n    ip: 10.0.0.1\n"
    result = add_tenant(text, "b")
    assert result.address == "10.0.0.2"
    with pytest.raises(EditError, match="network or broadcast address"):
        add_tenant(result.text, "c")
    assert add_tenant(result.text, "c", "10.0.0.3").address == "10.0.0.3"  # explicitly: yes


def test_file_without_final_newline_and_quoted_ips():
    text = 'version: 1\npool: 10.0.0.0/29\ntenants:\n  - name: a\n    ip: "10.0.0.1"'
    result = add_tenant(text, "b")
    # No line break at the end before, none after: remove-tenant gives the file back.
    assert result.text == text + '\n  - name: b\n    ip: "10.0.0.2"'
    assert remove_tenant(result.text, "b").text == text


def test_crlf_line_endings_are_kept():
    text = (
        "version: 1\r\npool: 10.0.0.0/28\r\ntenants:  # mine\r\n  - name: a\r\n    ip: 10.0.0.1\r\n"
    )
    added = add_tenant(text, "b")
    assert added.text == text + "  - name: b\r\n    ip: 10.0.0.2\r\n"
    assert remove_tenant(added.text, "b").text == text
    emptied = remove_tenant(text, "a").text
    assert emptied == "version: 1\r\npool: 10.0.0.0/28\r\ntenants: []  # mine\r\n"


def test_dash_on_its_own_line_and_comments_at_column_zero():
    text = textwrap.dedent(
        """\
        version: 1
        pool: 10.0.0.0/28
        tenants:
          -
            name: a
            ip: 10.0.0.1
        # section two (column 0: belongs to no tenant)
          -
            name: b
            ip: 10.0.0.2
        defaults: {}
        """
    )
    assert remove_tenant(add_tenant(text, "z").text, "z").text == text
    without_a = remove_tenant(text, "a").text
    assert without_a == text.replace("  -\n    name: a\n    ip: 10.0.0.1\n", "")
    without_b = remove_tenant(text, "b").text
    assert without_b == text.replace("  -\n    name: b\n    ip: 10.0.0.2\n", "")


def test_names_that_yaml_would_not_read_as_strings_are_quoted():
    text = "version: 1\npool: 10.0.0.0/29\ntenants:\n  - name: a\n    ip: 10.0.0.1\n"
    for name in ("123", "true", "null", "1e3"):
        result = add_tenant(text, name)
        assert f'name: "{name}"' in result.text
        assert parse(result.text)[0].tenants[-1].name == name


def test_auto_allocation_skips_reserved_and_used_addresses():
    text = textwrap.dedent(
        """\
        version: 1
        pool: [10.0.0.1-10.0.0.3, 10.0.1.7-10.0.1.9]
        reserved: {router: 10.0.0.1, dns: 10.0.0.3}
        tenants:
          - name: a
            ip: 10.0.0.2
          - name: b
            ip: 10.0.1.8
        """
    )
    first = add_tenant(text, "c")
    assert first.address == "10.0.1.7"
    second = add_tenant(first.text, "d")
    assert second.address == "10.0.1.9"
    with pytest.raises(EditError, match=r"pool .* is full: all 6 addresses are reserved \(2\)"):
        add_tenant(second.text, "e")


@pytest.mark.parametrize(
    ("name", "ip", "message"),
    [
        ("a", None, r"tenant 'a' already exists \(tenants.yaml, line 10\)"),
        (
            "d",
            "172.18.0.210",
            r"172.18.0.210 is already used by tenant a \(tenants.yaml, line 11\)",
        ),
        ("d", "172.18.0.200", "172.18.0.200 is reserved for traefik"),
        ("d", "172.18.0.221", r"172.18.0.221 is outside the pool \(172.18.0.200-172.18.0.220\)"),
        ("d", "172.18.0", "'172.18.0' is not a valid IPv4 address"),
        ("Bad_Name", None, "'Bad_Name' is not a valid tenant name"),
        (
            "x" * 44,
            None,
            r"is too long: StatefulSet \(Helm release\) name 'vcluster-x{44}' would be 53",
        ),
    ],
)
def test_add_refusals(name, ip, message):
    with pytest.raises(EditError, match=message):
        add_tenant(SEED_TENANTS, name, ip)


def test_remove_unknown_tenant():
    with pytest.raises(EditError, match=r"no tenant 'zz' in tenants.yaml \(tenants: a, b, c\)"):
        remove_tenant(SEED_TENANTS, "zz")


# ---------------------------------------------------------------- the commands


def test_add_tenant_command_edits_builds_and_remove_prunes(project):
    cfg = project(COMMENTED)
    original = cfg.read_bytes()
    assert invoke("build", "-c", str(cfg)).code == 0
    added = invoke("add-tenant", "-c", str(cfg), "d")
    assert added.code == 0, added.err
    assert "added tenant d (172.18.0.201)" in added.out
    generated = cfg.parent / "generated"
    assert (generated / "clusters/vcluster-d/vcluster-d_helmrelease.yaml").is_file()
    assert (
        "172.18.0.201"
        in (generated / "clusters/vcluster-d/vcluster-d_helmrelease.yaml").read_text()
    )
    assert invoke("check", "-c", str(cfg)).code == 0
    removed = invoke("remove-tenant", "-c", str(cfg), "d")
    assert removed.code == 0, removed.err
    assert cfg.read_bytes() == original
    assert not (generated / "clusters/vcluster-d").exists()
    assert not (generated / "tenant/tenant-d").exists()
    assert invoke("check", "-c", str(cfg)).code == 0


def test_no_build_only_edits(project):
    cfg = project()
    res = invoke("add-tenant", "-c", str(cfg), "d", "--ip", "172.18.0.215", "--no-build")
    assert res.code == 0, res.err
    assert not (cfg.parent / "generated").exists()
    assert "  - name: d\n    ip: 172.18.0.215\n" in cfg.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add-tenant", "a"), "tenant 'a' already exists"),
        (("add-tenant", "d", "--ip", "172.18.0.212"), "172.18.0.212 is reserved for grafana"),
        (("add-tenant", "d", "--ip", "10.1.1.1"), "10.1.1.1 is outside the pool"),
        (("remove-tenant", "zz"), "no tenant 'zz'"),
    ],
)
def test_command_refusals_exit_2_and_write_nothing(project, args, message):
    cfg = project()
    before = cfg.read_bytes()
    res = invoke(args[0], "-c", str(cfg), *args[1:])
    assert res.code == 2
    assert message in res.err
    assert cfg.read_bytes() == before
    assert not (cfg.parent / "generated").exists()


def test_invalid_file_is_not_edited(project):
    cfg = project(SEED_TENANTS.replace("ip: 172.18.0.214", "ip: 172.18.0.210"))
    before = cfg.read_bytes()
    res = invoke("add-tenant", "-c", str(cfg), "d")
    assert res.code == 2
    assert "172.18.0.210 is already used by tenant a" in res.err
    assert cfg.read_bytes() == before


def test_full_pool_command(project):
    cfg = project("version: 1\npool: 10.0.0.1-10.0.0.1\ntenants:\n  - name: a\n    ip: 10.0.0.1\n")
    res = invoke("add-tenant", "-c", str(cfg), "b")
    assert res.code == 2
    assert "is full" in res.err


def test_missing_config_file(tmp_path):
    res = invoke("add-tenant", "-c", str(tmp_path / "nope.yaml"), "d")
    assert res.code == 2
    assert "no such file" in res.err


def test_makefile_targets(project):
    """The seed's muscle memory: make add-tenant / remove-tenant with TENANT_NAME/TENANT_IP.

    The repository's Makefile runs in a temporary repository; STAMP= and BIN= point it at
    this virtualenv so that make never (re)creates one.
    """
    import shutil
    import subprocess
    import sys

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    cfg = project()
    original = cfg.read_bytes()
    repo = cfg.parent
    make = [
        "make",
        "-s",
        "-f",
        str(REPO / "Makefile"),
        "RUNTIME_STAMP=",
        f"BIN={Path(sys.executable).parent}",
    ]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*make, *args], cwd=repo, capture_output=True, text=True, check=False)

    added = run("add-tenant", "TENANT_NAME=d", "TENANT_IP=172.18.0.215")
    assert added.returncode == 0, added.stderr
    assert "  - name: d\n    ip: 172.18.0.215\n" in cfg.read_text()
    assert (repo / "generated/clusters/vcluster-d").is_dir()
    auto = run("add-tenant", "TENANT_NAME=e")
    assert auto.returncode == 0, auto.stderr
    assert "added tenant e (172.18.0.201)" in auto.stdout
    for name in ("e", "d"):
        removed = run("remove-tenant", f"TENANT_NAME={name}")
        assert removed.returncode == 0, removed.stderr
    assert cfg.read_bytes() == original
    taken = run("add-tenant", "TENANT_NAME=a")
    assert taken.returncode != 0
    assert "tenant 'a' already exists" in taken.stderr


def test_crlf_file_through_the_command(project):
    cfg = project()
    crlf = cfg.read_bytes().replace(b"\n", b"\r\n")
    cfg.write_bytes(crlf)
    res = invoke("add-tenant", "-c", str(cfg), "d", "--no-build")
    assert res.code == 0, res.err
    assert cfg.read_bytes() == crlf + b"  - name: d\r\n    ip: 172.18.0.201\r\n"
    assert invoke("remove-tenant", "-c", str(cfg), "d", "--no-build").code == 0
    assert cfg.read_bytes() == crlf


def test_concurrent_edits_do_not_lose_a_tenant(project):
    """Many add-tenant processes at once: every tenant lands, each on its own address."""
    import subprocess
    import sys

    cfg = project()
    gitopsgen = str(Path(sys.executable).parent / "gitopsgen")
    procs = [
        subprocess.Popen(
            [gitopsgen, "add-tenant", "-c", str(cfg), f"n{i}", "--no-build"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(6)
    ]
    for proc in procs:
        _, stderr = proc.communicate()
        assert proc.returncode == 0, stderr.decode()
    config, _ = parse(cfg.read_text())
    names = [t.name for t in config.tenants]
    assert sorted(names[3:]) == [f"n{i}" for i in range(6)]
    ips = [t.ip for t in config.tenants]
    assert len(set(ips)) == len(ips)


def test_build_failure_after_the_edit_says_the_file_changed(project):
    cfg = project()
    foreign = cfg.parent / "generated/clusters/vcluster-d/kustomization.yaml"
    foreign.parent.mkdir(parents=True)
    foreign.write_text("# mine\n")
    res = invoke("add-tenant", "-c", str(cfg), "d")
    assert res.code == 2
    assert "is changed, but the build failed" in res.err
    assert "clusters/vcluster-d/kustomization.yaml" in res.err
    assert "  - name: d\n" in cfg.read_text()
    assert foreign.read_text() == "# mine\n"


# ---------------------------------------------------------------- properties


_tenant_shape = st.fixed_dictionaries(
    {
        "heading": st.booleans(),
        "eol": st.booleans(),
        "inner": st.booleans(),
        "nested": st.booleans(),
        "blank_before": st.booleans(),
    }
)


def _file(shapes: list[dict[str, bool]], dash: int, footer: str) -> str:
    pad, body = " " * dash, " " * (dash + 2)
    out = ["# header (owner: none)\n", "version: 1\n", "pool: 10.0.0.0/24\n", "tenants:\n"]
    for i, shape in enumerate(shapes):
        if shape["blank_before"]:
            out.append("\n")
        if shape["heading"]:
            out.append(f"{pad}# heads t{i} (owner: t{i})\n")
        out.append(
            f"{pad}- name: t{i}" + (f"   # eol (owner: t{i})" if shape["eol"] else "") + "\n"
        )
        out.append(f"{body}ip: 10.0.0.{i + 10}\n")
        if shape["inner"]:
            out.append(f"{body}# inside (owner: t{i})\n")
        if shape["nested"]:
            out.append(f"{body}vcluster:\n{body}  authDelegator: true  # (owner: t{i})\n")
    if footer == "comment":
        out.append("# footer (owner: none)\n")
    elif footer == "key":
        out.append("\n# defaults (owner: none)\ndefaults: {}\n")
    return "".join(out)


def _owned_comments(text: str, owner: str | None = None) -> list[str]:
    return [c for c in comments(text) if owner is None or f"(owner: {owner})" not in c]


@settings(max_examples=60, deadline=None)
@given(
    shapes=st.lists(_tenant_shape, min_size=1, max_size=5),
    dash=st.sampled_from([0, 2, 4]),
    footer=st.sampled_from(["none", "comment", "key"]),
    data=st.data(),
)
def test_property_edits_keep_everything_else(shapes, dash, footer, data):
    text = _file(shapes, dash, footer)
    names = [f"t{i}" for i in range(len(shapes))]
    assert [t.name for t in parse(text)[0].tenants] == names
    # add then remove: byte-identical
    added = add_tenant(text, "new")
    assert [t.name for t in parse(added.text)[0].tenants] == [*names, "new"]
    assert comments(added.text) == comments(text)
    assert remove_tenant(added.text, "new").text == text
    # remove one: the others stay in order, and exactly its own comments go
    victim = data.draw(st.sampled_from(names))
    removed = remove_tenant(text, victim).text
    assert [t.name for t in parse(removed)[0].tenants] == [n for n in names if n != victim]
    assert comments(removed) == _owned_comments(text, victim)
