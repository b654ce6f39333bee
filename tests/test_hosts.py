"""hosts: /etc/hosts lines, and a marked block of a hosts file kept in step."""

from __future__ import annotations

import pytest

from conftest import SEED_TENANTS, invoke
from gitopsgen.errors import GitopsgenError
from gitopsgen.hostsfile import BEGIN, END, update

LINES = [
    "172.18.0.200 tenant-a.traefik.local",
    "172.18.0.200 tenant-b.traefik.local",
    "172.18.0.200 tenant-c.traefik.local",
]

UNRELATED = (
    "127.0.0.1\tlocalhost\n"
    "::1 localhost ip6-localhost   # keep my spacing\n"
    "\n"
    "# my own comment\n"
    "10.0.0.5 nas.home\n"
)


def test_prints_one_line_per_tenant_hostname(project):
    cfg = project(
        SEED_TENANTS.replace("  - name: c\n", "  - name: c\n    hostname: shop.example.com\n")
        + "defaults:\n  ingress:\n    listenerHostnames: ['*.traefik.local', shop.example.com]\n"
    )
    res = invoke("hosts", "-c", str(cfg))
    assert res.code == 0, res.err
    assert res.out.splitlines() == [*LINES[:2], "172.18.0.200 shop.example.com"]


def test_no_ingress_address_is_a_clear_error(project):
    cfg = project(SEED_TENANTS.replace("  traefik: 172.18.0.200\n", ""))
    res = invoke("hosts", "-c", str(cfg))
    assert res.code == 2
    assert "no ingress address" in res.err
    assert "'traefik'" in res.err


def test_write_changes_only_its_block_and_is_idempotent(project, tmp_path):
    cfg = project()
    hosts = tmp_path / "hosts"
    hosts.write_text(UNRELATED)
    first = invoke("hosts", "-c", str(cfg), "--write", str(hosts))
    assert first.code == 0, first.err
    assert "3 added, 0 removed" in first.out
    text = hosts.read_text()
    assert text.startswith(UNRELATED)
    block = text[len(UNRELATED) :].splitlines()
    assert block[0] == BEGIN and block[-1] == END
    assert [line for line in block if not line.startswith("#")] == LINES
    backup = tmp_path / "hosts~"
    assert backup.read_text() == UNRELATED

    # Unchanged: no write at all (same inode, same mtime), no new backup.
    backup.unlink()
    stat = hosts.stat()
    again = invoke("hosts", "-c", str(cfg), "--write", str(hosts))
    assert again.code == 0
    assert "up to date" in again.out
    assert hosts.stat().st_mtime_ns == stat.st_mtime_ns
    assert hosts.stat().st_ino == stat.st_ino
    assert not backup.exists()


def test_write_updates_and_removes_lines_inside_the_block_only(project, tmp_path):
    cfg = project()
    hosts = tmp_path / "hosts"
    hosts.write_text(UNRELATED)
    assert invoke("hosts", "-c", str(cfg), "--write", str(hosts)).code == 0
    # lines after the block stay after it
    hosts.write_text(hosts.read_text() + "192.168.1.1 router\n")
    before = hosts.read_text()
    assert invoke("remove-tenant", "-c", str(cfg), "b", "--no-build").code == 0
    res = invoke("hosts", "-c", str(cfg), "--write", str(hosts))
    assert res.code == 0, res.err
    assert "0 added, 1 removed" in res.out
    after = hosts.read_text()
    assert after == before.replace("172.18.0.200 tenant-b.traefik.local\n", "")
    assert (tmp_path / "hosts~").read_text() == before


def test_write_creates_a_missing_file(project, tmp_path):
    cfg = project()
    hosts = tmp_path / "new-hosts"
    res = invoke("hosts", "-c", str(cfg), "--write", str(hosts))
    assert res.code == 0, res.err
    assert hosts.read_text().splitlines()[0] == BEGIN
    assert not (tmp_path / "new-hosts~").exists()


def test_update_keeps_a_file_without_final_newline_and_crlf():
    result = update("127.0.0.1 localhost", LINES[:1])
    assert result.text.startswith("127.0.0.1 localhost\n# BEGIN gitopsgen\n")
    crlf = update("127.0.0.1 localhost\r\n", LINES[:1])
    assert crlf.text.startswith("127.0.0.1 localhost\r\n# BEGIN gitopsgen\r\n")
    assert update(crlf.text, LINES[:1]).changed is False


@pytest.mark.parametrize(
    "text",
    [
        f"{BEGIN}\n1.1.1.1 x\n",
        f"{END}\n{BEGIN}\n",
        f"{BEGIN}\n{END}\n{BEGIN}\n{END}\n",
    ],
    ids=["unterminated", "reversed", "two-blocks"],
)
def test_broken_markers_are_refused(text):
    with pytest.raises(GitopsgenError, match=r"fix the file by hand|merge them by hand"):
        update(text, LINES)


def test_broken_markers_command_exits_2_and_leaves_the_file(project, tmp_path):
    cfg = project()
    hosts = tmp_path / "hosts"
    hosts.write_text(f"127.0.0.1 localhost\n{BEGIN}\n")
    res = invoke("hosts", "-c", str(cfg), "--write", str(hosts))
    assert res.code == 2
    assert hosts.read_text() == f"127.0.0.1 localhost\n{BEGIN}\n"
