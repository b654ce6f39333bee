"""Regression tests of issue 19 (a deliberate attack on the CLI): one or more per
item, each failing on the code before the fix. Messages are pinned.

Where the old code exhausted memory or CPU (items 10, 11, 13, 15), the command runs
in a child process with a resource limit (``RLIMIT_AS`` / ``RLIMIT_CPU``) far above
what the fixed code needs, so a regression fails instead of hanging the suite.
Unprivileged cases (item 16) run the real CLI as user ``nobody`` via ``setpriv``:
root ignores file permissions.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import SEED_TENANTS, invoke
from gitopsgen import locking, tree
from gitopsgen.plan import MANIFEST
from support.golden import snapshot

HOSTS_TENANTS = SEED_TENANTS  # reserves traefik: the ingress address
BLOCK_LINES = [
    "# BEGIN gitopsgen",
    "# tenant hostnames -> ingress address; managed by `gitopsgen hosts --write`",
    "172.18.0.200 tenant-a.traefik.local",
    "172.18.0.200 tenant-b.traefik.local",
    "172.18.0.200 tenant-c.traefik.local",
    "# END gitopsgen",
]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    (path / ".git").mkdir()
    return path


def write_cfg(repo: Path, text: str = SEED_TENANTS) -> Path:
    cfg = repo / "tenants.yaml"
    cfg.write_text(text)
    return cfg


def built(repo: Path, text: str = SEED_TENANTS) -> Path:
    cfg = write_cfg(repo, text)
    res = invoke("build", "-c", str(cfg))
    assert res.code == 0, res.err
    return cfg


def cli(
    *args: str,
    cwd: Path | None = None,
    memory: int | None = None,
    cpu: int | None = None,
    timeout: float = 120,
    user: bool = False,
) -> subprocess.CompletedProcess[str]:
    """The real CLI in a child process, optionally under resource limits or as nobody."""

    def limits() -> None:  # pragma: no cover - in the child
        if memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        if cpu is not None:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))

    command = [sys.executable, "-m", "gitopsgen", *args]
    if user:
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=limits,
        env=env,
        check=False,
    )


# -- data loss -------------------------------------------------------------------------


def test_1_hosts_backup_never_follows_a_link(repo: Path, tmp_path: Path) -> None:
    cfg = write_cfg(repo)
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    victim.chmod(0o600)
    (tmp_path / "hosts~").symlink_to(victim)
    res = invoke("hosts", "-c", str(cfg), "--write", str(hosts))
    assert res.code == 0, res.err
    assert victim.read_text() == "precious\n"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600
    backup = tmp_path / "hosts~"
    assert not backup.is_symlink()
    assert backup.read_text() == "127.0.0.1 localhost\n"
    assert res.out == f"{hosts}: updated (3 added, 0 removed); backup {backup}\n"


def test_2_a_foreign_file_that_looks_like_a_temporary_is_left_alone(repo: Path) -> None:
    cfg = built(repo)
    root = repo / "generated"
    lookalike = root / "clusters" / ".notes.gitopsgen-tmp-1"
    lookalike.write_text("mine\n")
    assert invoke("build", "-c", str(cfg)).code == 0
    assert lookalike.read_text() == "mine\n"
    check = invoke("check", "-c", str(cfg))
    assert check.code == 0
    assert (
        "note: 1 file(s) in generated not written by gitopsgen (left alone):\n"
        "  generated/clusters/.notes.gitopsgen-tmp-1\n"
    ) in check.err


def test_3_no_directory_outside_the_output_is_removed_through_a_link(
    repo: Path, tmp_path: Path
) -> None:
    cfg = built(repo)
    root = repo / "generated"
    outside = tmp_path / "outside"
    (outside / "empty" / "sub").mkdir(parents=True)
    (root / "lnk").symlink_to(outside)
    manifest = root / MANIFEST
    manifest.write_bytes(manifest.read_bytes() + b"lnk/empty/sub/x.yaml\n")
    res = invoke("build", "-c", str(cfg))
    assert res.code == 0, res.err
    assert (outside / "empty" / "sub").is_dir(), "build removed a directory outside the output"
    assert (root / "lnk").is_symlink()


# -- wrong output ----------------------------------------------------------------------


def test_4_build_reads_tenants_yaml_inside_the_lock(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build that waited for the lock must build the tenants.yaml of now, not the
    one it read before waiting (staged: the file changes while it waits)."""
    cfg = built(repo)
    newer = SEED_TENANTS + "  - name: d\n    ip: 172.18.0.215\n"
    real = locking.wait_for_flock

    def waiting(fd: int, wait: float, error: object) -> None:
        cfg.write_text(newer)  # another add-tenant finished while this build waited
        real(fd, wait, error)  # type: ignore[arg-type]

    monkeypatch.setattr(locking, "wait_for_flock", waiting)
    monkeypatch.setattr(tree, "wait_for_flock", waiting, raising=False)  # the old code
    res = invoke("build", "-c", str(cfg))
    monkeypatch.undo()
    assert res.code == 0, res.err
    assert (repo / "generated/clusters/vcluster-d/vcluster-d_helmrelease.yaml").exists()
    check = invoke("check", "-c", str(cfg))
    assert check.code == 0, check.out + check.err


def test_4_parallel_add_tenants_keep_every_tenants_files(repo: Path) -> None:
    """10 add-tenant commands at once (each edits, then builds): every tenant ends
    in tenants.yaml with a distinct address, and every tenant's files are there."""
    tenants = "".join(
        f"  - name: t{i}\n    ip: 10.1.{i // 250}.{i % 250 + 1}\n" for i in range(300)
    )
    cfg = built(repo, "version: 1\npool: 10.1.0.0/16\ntenants:\n" + tenants)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "gitopsgen", "add-tenant", "-c", str(cfg), f"new{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(10)
    ]
    codes = [p.wait(timeout=300) for p in procs]
    assert codes == [0] * 10, [p.stderr.read() for p in procs if p.stderr]  # type: ignore[union-attr]
    text = cfg.read_text()
    for i in range(10):
        assert f"name: new{i}\n" in text
        files = list((repo / "generated/clusters").glob(f"vcluster-new{i}/*"))
        assert files, f"tenant new{i} is in tenants.yaml but its files are missing"
    check = invoke("check", "-c", str(cfg))
    assert check.code == 0, check.out + check.err


def test_5_things_in_the_way_are_found_before_the_first_write(repo: Path) -> None:
    cfg = built(repo)
    root = repo / "generated"
    shutil.rmtree(root / "clusters")
    (root / "clusters").write_text("a file of mine\n")
    (root / "tenant" / "tenant-a" / "kustomization.yaml").unlink()
    (root / "tenant" / "tenant-a" / "kustomization.yaml").mkdir()
    before = snapshot(root)
    res = invoke("build", "-c", str(cfg))
    assert res.code == 2
    assert res.err == (
        f"{root}: 2 thing(s) that gitopsgen did not write stand where it must write; "
        "move them away (nothing was written):\n"
        "  clusters (a file stands where build needs a directory "
        "(for clusters/host-cluster/kustomization.yaml))\n"
        "  tenant/tenant-a/kustomization.yaml (a directory stands where build must write "
        "a file)\n"
    )
    assert snapshot(root) == before, "something was written"
    check = invoke("check", "-c", str(cfg))
    assert check.code == 1
    drift = [line for line in check.out.splitlines() if line.startswith("  ")]
    assert drift == [
        "  foreign  generated/clusters (not written by gitopsgen, stands where build must write)",
        "  foreign  generated/tenant/tenant-a/kustomization.yaml (not written by gitopsgen, "
        "stands where build must write)",
    ], check.out


def test_6_api_port_is_a_port(repo: Path) -> None:
    for port in ("-7", "12345678901234567890123456789012345678901", "0", "65536"):
        cfg = write_cfg(repo, SEED_TENANTS + f"defaults:\n  vcluster:\n    apiPort: {port}\n")
        res = invoke("validate", "-c", str(cfg))
        assert res.code == 2, port
        bound = "greater than or equal to 1" if port in ("-7", "0") else "less than or equal to"
        assert res.err.startswith("tenants.yaml:25:14: defaults.vcluster.apiPort: input should be ")
        assert bound in res.err


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_7_hosts_write_keeps_line_endings(repo: Path, tmp_path: Path, newline: str) -> None:
    cfg = write_cfg(repo)
    hosts = tmp_path / "hosts"
    lines = ["127.0.0.1 localhost", *BLOCK_LINES[:3], BLOCK_LINES[-1], "::1 ip6"]
    hosts.write_bytes(newline.join(lines).encode() + newline.encode())
    res = invoke("hosts", "-c", str(cfg), "--write", str(hosts))
    assert res.code == 0, res.err
    want = ["127.0.0.1 localhost", *BLOCK_LINES, "::1 ip6"]
    assert hosts.read_bytes() == (newline.join(want) + newline).encode()


def test_8_without_git_the_directory_of_tenants_yaml_is_the_boundary(tmp_path: Path) -> None:
    plain = tmp_path / "plain" / "config"
    plain.mkdir(parents=True)
    cfg = write_cfg(plain, SEED_TENANTS + "repositoryRoot: ..\noutput: ../elsewhere\n")
    res = invoke("build", "-c", str(cfg))
    assert res.code == 2
    assert res.err == (
        "tenants.yaml:23:17: repositoryRoot: the repository root '..' is above the directory of "
        "this file, and no Git work tree marks the repository (pass --allow-outside to "
        "permit it)\n"
    )
    assert not (tmp_path / "plain" / "elsewhere").exists()


@pytest.mark.parametrize("output", [".git", ".git/hooks", "sub/../.git"])
def test_8_git_is_never_an_output(repo: Path, output: str) -> None:
    cfg = write_cfg(repo, SEED_TENANTS + f"output: {output}\n")
    before = snapshot(repo)
    for flags in ([], ["--allow-outside"]):
        res = invoke("build", *flags, "-c", str(cfg))
        assert res.code == 2
        assert res.err == (
            f"tenants.yaml:23:9: output: {output!r} is inside .git; the output may never be there\n"
        )
    assert snapshot(repo) == before


def test_8_git_through_a_link_is_never_an_output(repo: Path) -> None:
    (repo / "out").symlink_to(repo / ".git")
    cfg = write_cfg(repo, SEED_TENANTS + "output: out/gen\n")
    res = invoke("build", "--allow-outside", "-c", str(cfg))
    assert res.code == 2
    assert res.err == (
        "tenants.yaml:23:9: output: the output directory 'out/gen' leads through a symbolic link "
        f"to {repo / '.git' / 'gen'}, inside .git; the output may never be there\n"
    )


def test_8_a_tenants_yaml_linked_into_the_output_is_refused(repo: Path) -> None:
    built(repo)
    real = repo / "generated" / "tenants.yaml"
    real.write_text(SEED_TENANTS)
    link = repo / "linked.yaml"
    link.symlink_to(real)
    res = invoke("build", "-c", str(link))
    assert res.code == 2
    assert res.err == (
        f"linked.yaml:1:1: {link} is a symbolic link into the output directory 'generated'; "
        "build would overwrite it\n"
    )


def test_9_add_then_remove_is_byte_identical_without_a_final_newline_and_with_cr() -> None:
    from gitopsgen.edit import add_tenant, remove_tenant

    text = "version: 1\npool: 10.0.0.0/29\ntenants:\n  - name: a\n    ip: 10.0.0.1"
    added = add_tenant(text, "b").text
    assert added == text + "\n  - name: b\n    ip: 10.0.0.2"
    assert remove_tenant(added, "b").text == text
    cr = "version: 1\rpool: 10.0.0.0/29\rtenants:\r  - name: a\r    ip: 10.0.0.1\r"
    added = add_tenant(cr, "b").text
    assert added == cr + "  - name: b\r    ip: 10.0.0.2\r"
    assert "\n" not in added
    assert remove_tenant(added, "b").text == cr


# -- crashes and resource use ------------------------------------------------------------

_512_MB = 512 * 1024 * 1024


@pytest.mark.parametrize("pool", ["10.0.0.0/8", "0.0.0.0/0"])
def test_10_ips_lists_ranges_not_every_address(repo: Path, pool: str) -> None:
    first = "10.0.0.1" if pool != "0.0.0.0/0" else "0.0.0.1"
    second = "10.200.0.1" if pool != "0.0.0.0/0" else "200.0.0.1"
    cfg = write_cfg(
        repo,
        f"version: 1\npool: {pool}\ntenants:\n"
        f"  - {{name: a, ip: {first}}}\n  - {{name: b, ip: {second}}}\n",
    )
    res = cli("ips", "-c", str(cfg), memory=_512_MB, cpu=60)
    assert res.returncode == 0, res.stderr
    size = 2**24 if pool == "10.0.0.0/8" else 2**32
    lines = res.stdout.splitlines()
    assert lines[0] == f"pool {pool}: {size} addresses, 2 held, {size - 2} free"
    assert len(lines) == 6
    js = cli("ips", "-c", str(cfg), "--format", "json", memory=_512_MB, cpu=60)
    assert js.returncode == 0, js.stderr
    assert '"addresses"' not in js.stdout and '"ranges"' in js.stdout


def _bomb(levels: int = 9) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


def test_11_diff_against_disk_refuses_an_alias_bomb(repo: Path) -> None:
    cfg = built(repo)
    target = repo / "generated" / "clusters" / "vcluster-a" / "vcluster-a_helmrelease.yaml"
    target.write_text(target.read_text().splitlines()[0] + "\n" + _bomb())
    res = cli("diff", "--against-disk", "-c", str(cfg), memory=_512_MB * 2, cpu=60)
    assert res.returncode == 2, res.stderr[-2000:]
    assert res.stderr == (
        f"{target}:2:1: not valid YAML: document expands to more than 2000000 nodes (alias bomb?)\n"
    )


def test_11_import_reads_through_the_one_reader(tmp_path: Path) -> None:
    from gitopsgen.importer import _load_tree

    tree_dir = tmp_path / "seed"
    tree_dir.mkdir()
    (tree_dir / "bomb.yaml").write_text("kind: ConfigMap\n" + _bomb())
    unmapped: list[str] = []
    objects, _ = _load_tree(tree_dir, unmapped)
    assert objects == []
    assert unmapped == [
        "bomb.yaml: not valid YAML, skipped (1:1: document expands to more than 2000000 "
        "nodes (alias bomb?))"
    ]


def test_12_hosts_file_that_is_not_utf8_is_kept_byte_for_byte(repo: Path, tmp_path: Path) -> None:
    cfg = write_cfg(repo)
    hosts = tmp_path / "hosts"
    head = b"# caf\xe9 (latin-1)\n127.0.0.1 localhost\n"
    hosts.write_bytes(head)
    res = invoke("hosts", "-c", str(cfg), "--write", str(hosts))
    assert res.code == 0, res.err
    assert hosts.read_bytes() == head + "\n".join(BLOCK_LINES).encode() + b"\n"
    assert (tmp_path / "hosts~").read_bytes() == head


def test_13_oversized_and_endless_files_are_refused_without_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as handle:
        handle.truncate(1024**3)  # sparse: 1 GB, no disk used
    res = cli("validate", "-c", str(big), memory=_512_MB, cpu=30)
    assert res.returncode == 2
    assert res.stderr == "big.yaml:1:1: file is 1073741824 bytes; the limit is 8388608 bytes\n"
    res = cli("validate", "-c", "/dev/zero", memory=_512_MB, cpu=30)
    assert res.returncode == 2
    assert res.stderr == (
        "zero:1:1: not a regular file (a device, FIFO or socket); refusing to read it\n"
    )
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    res = cli("add-tenant", "-c", str(fifo), "x", memory=_512_MB, timeout=30)
    assert res.returncode == 2
    assert res.stderr == (
        "fifo:1:1: not a regular file (a device, FIFO or socket); refusing to read it\n"
    )


def test_14_output_amplification_is_bounded(repo: Path) -> None:
    big = "x" * 40_000
    cfg = write_cfg(
        repo, SEED_TENANTS + f"defaults:\n  vcluster:\n    values:\n      blob: {big}\n"
    )
    res = invoke("validate", "-c", str(cfg))
    assert res.code == 2
    assert res.err == (
        "tenants.yaml:26:7: defaults.vcluster.values: 40011 bytes of Helm values (as JSON), copied "
        "into every vcluster; the limit is 32768\n"
    )
    cfg = write_cfg(repo, SEED_TENANTS + f"defaults:\n  ingress:\n    domain: {'a' * 5000}\n")
    res = invoke("validate", "-c", str(cfg))
    assert res.code == 2
    assert (
        "tenants.yaml:25:13: defaults.ingress.domain: a string of 5000 characters; "
        "the limit is 4096" in res.err
    )


def test_15_largest_tenant_count_is_bounded(repo: Path) -> None:
    tenants = "".join(
        f"  - {{name: t{i}, ip: 10.{i // 65536}.{i // 256 % 256}.{i % 256}}}\n"
        for i in range(25_001)
    )
    cfg = write_cfg(repo, "version: 1\npool: 10.0.0.0/8\ntenants:\n" + tenants)
    res = invoke("validate", "-c", str(cfg))
    assert res.code == 2
    assert (
        res.err == "tenants.yaml:4:3: tenants: 25001 tenants; the limit is 25000 per tenants.yaml\n"
    )


def test_15_hosts_update_is_linear() -> None:
    """60,000 hostnames in an existing block: the old list-membership update was
    quadratic (about a minute); a CPU limit of 20 s catches a regression."""
    script = textwrap.dedent(
        """
        from gitopsgen.hostsfile import update
        lines = [f"10.0.0.1 tenant-{i}.example" for i in range(60000)]
        old = "\\n".join(["# BEGIN gitopsgen", *lines[::-1], "# END gitopsgen"]) + "\\n"
        result = update(old, [*lines[1:], "10.0.0.1 new.example"])
        print(len(result.added), len(result.removed))
        """
    )

    def limits() -> None:  # pragma: no cover - in the child
        resource.setrlimit(resource.RLIMIT_CPU, (20, 20))

    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        preexec_fn=limits,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-500:])
    assert proc.stdout == "1 1\n"


# -- messages -----------------------------------------------------------------------------


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory user nobody can reach (pytest's tmp_path is private to root)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run the CLI as an unprivileged user")
    path = Path(tempfile.mkdtemp(prefix="gitopsgen-rel-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def test_16_unreadable_tenants_yaml_is_a_located_message(shared_dir: Path) -> None:
    cfg = shared_dir / "tenants.yaml"
    cfg.write_text(SEED_TENANTS)
    cfg.chmod(0o600)
    res = cli("validate", "-c", str(cfg), user=True)
    assert res.returncode == 2
    assert res.stderr == "tenants.yaml:1:1: cannot read: Permission denied\n"


def test_16_unreadable_directory_in_the_output(shared_dir: Path) -> None:
    repo = shared_dir / "repo"
    repo.mkdir()
    (repo / ".git").mkdir()
    cfg = built(repo)
    subprocess.run(["chown", "-R", "65534:65534", str(repo)], check=True)
    locked_dir = repo / "generated" / "tenant" / "tenant-a"
    locked_dir.chmod(0o000)
    for command in ("check", "build"):
        res = cli(command, "-c", str(cfg), user=True)
        assert res.returncode == 2, res.stdout
        assert res.stderr == (
            f"{locked_dir}: cannot read the directory: Permission denied; gitopsgen must "
            f"read everything under {repo / 'generated'} (nothing was written)\n"
        )


def test_16_a_linked_subdirectory_is_not_called_foreign(repo: Path, tmp_path: Path) -> None:
    cfg = built(repo)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.yaml").write_text("a: 1\n")
    (repo / "generated" / "docs").symlink_to(tmp_path / "elsewhere")
    check = invoke("check", "-c", str(cfg))
    assert check.code == 0, check.err
    assert "not written by gitopsgen" not in check.err
    assert (
        f"note: {repo / 'generated' / 'docs'}: a symbolic link; gitopsgen never follows it "
        "(left alone)\n"
    ) in check.err


def test_17_a_killed_edit_leaves_nothing_the_next_edit_does_not_remove(repo: Path) -> None:
    cfg = write_cfg(repo)
    # What an edit killed between creating and renaming its temporary file leaves.
    token = "00112233445566aa"
    journal = repo / ".tenants.yaml.gitopsgen-journal"
    journal.write_bytes(
        b"# gitopsgen journal: tokens of temporary files of an unfinished write\n"
        + token.encode()
        + b"\n"
    )
    leftover = repo / f".tenants.yaml.gitopsgen-tmp-{token}"
    leftover.write_text("half an edit")
    lookalike = repo / ".tenants.yaml.gitopsgen-tmp-ffffffffffffffff"
    lookalike.write_text("not ours")
    res = invoke("add-tenant", "-c", str(cfg), "d", "--no-build")
    assert res.code == 0, res.err
    assert not leftover.exists() and not journal.exists()
    assert lookalike.read_text() == "not ours"
    assert sorted(p.name for p in repo.iterdir()) == [
        ".git",
        ".tenants.yaml.gitopsgen-tmp-ffffffffffffffff",
        "tenants.yaml",
    ]


def test_17_an_edit_killed_before_its_rename_is_cleaned_by_the_next(repo: Path) -> None:
    cfg = write_cfg(repo)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            from gitopsgen import fsio
            from gitopsgen.cli import main

            def hook(kind: str, path: str) -> None:
                if kind == "rename":
                    os.kill(os.getpid(), signal.SIGKILL)

            fsio.before_operation = hook
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            main(["add-tenant", "-c", str(cfg), "d", "--no-build"])
        finally:
            os._exit(70)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert cfg.read_text() == SEED_TENANTS, "the killed edit changed tenants.yaml"
    assert len([p for p in repo.iterdir() if ".gitopsgen-tmp-" in p.name]) == 1
    assert invoke("add-tenant", "-c", str(cfg), "e", "--no-build").code == 0
    assert sorted(p.name for p in repo.iterdir()) == [".git", "tenants.yaml"]


def test_17_a_read_only_tenants_yaml_is_refused_unless_forced(repo: Path) -> None:
    cfg = write_cfg(repo)
    cfg.chmod(0o444)
    res = invoke("add-tenant", "-c", str(cfg), "d", "--no-build")
    assert res.code == 2
    assert res.err == (
        f"{cfg}: the file is read-only (mode 0444); nothing was written (make it writable, "
        "or pass --force to replace it anyway)\n"
    )
    assert cfg.read_text() == SEED_TENANTS
    res = invoke("add-tenant", "-c", str(cfg), "d", "--no-build", "--force")
    assert res.code == 0, res.err
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o444
    assert "name: d" in cfg.read_text()


def test_13_diff_bases_are_bounded_too(repo: Path, tmp_path: Path) -> None:
    cfg = write_cfg(repo)
    big = tmp_path / "big.yaml"
    with big.open("wb") as handle:
        handle.truncate(1024**3)  # sparse
    res = cli("diff", "--base", str(big), "-c", str(cfg), memory=_512_MB, cpu=30)
    assert res.returncode == 2
    assert res.stderr == f"--base {big}: file is 1073741824 bytes; the limit is 8388608 bytes\n"
    from conftest import GIT_ENV

    env = {**os.environ, **GIT_ENV}
    git = ["git", "-C", str(repo)]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True, env=env)
    (repo / "tenants.yaml").write_bytes(b"#" * (9 * 1024 * 1024))
    subprocess.run([*git, "add", "tenants.yaml"], check=True, env=env)
    subprocess.run([*git, "commit", "-qm", "big"], check=True, env=env)
    commit = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, env=env, capture_output=True, text=True
    ).stdout.strip()
    cfg.write_text(SEED_TENANTS)
    res = cli("diff", "--base", "main", "-c", str(cfg), memory=_512_MB, cpu=30)
    assert res.returncode == 2
    assert res.stderr == f"{commit}:tenants.yaml: 9437184 bytes; the limit is 8388608 bytes\n"


def test_17_a_killed_hosts_write_is_cleaned_by_the_next(repo: Path, tmp_path: Path) -> None:
    cfg = write_cfg(repo)
    hosts = tmp_path / "etc" / "hosts"
    hosts.parent.mkdir()
    hosts.write_text("127.0.0.1 localhost\n")
    for kill_at in (1, 2):  # the backup's rename, then the hosts file's rename
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                from gitopsgen import fsio
                from gitopsgen.cli import main

                renames = 0

                def hook(kind: str, path: str, stop: int = kill_at) -> None:
                    nonlocal renames
                    renames += kind == "rename"
                    if renames == stop:
                        os.kill(os.getpid(), signal.SIGKILL)

                fsio.before_operation = hook
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, 1)
                os.dup2(null, 2)
                main(["hosts", "-c", str(cfg), "--write", str(hosts)])
            finally:
                os._exit(70)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status), kill_at
        assert hosts.read_text() == "127.0.0.1 localhost\n"
        assert len([p for p in hosts.parent.iterdir() if ".gitopsgen-tmp-" in p.name]) == 1
        res = invoke("hosts", "-c", str(cfg), "--write", str(hosts))
        assert res.code == 0, res.err
        assert sorted(p.name for p in hosts.parent.iterdir()) == ["hosts", "hosts~"]
        hosts.write_text("127.0.0.1 localhost\n")


def test_one_yaml_reader_and_one_writer() -> None:
    """Issue 11: no module but reader.py imports a YAML library; no module but
    fsio.py writes, renames or replaces files."""
    import re

    src = Path(__file__).resolve().parents[1] / "src" / "gitopsgen"
    loaders = re.compile(r"^\s*(?:from|import) (?:ruamel|yaml)\b", re.MULTILINE)
    writes = re.compile(r"os\.replace\(|os\.rename\(|write_bytes\(|write_text\(|\"wb\"|'wb'|\"w\"")
    readers, writers = [], []
    for path in sorted(src.rglob("*.py")):
        text = path.read_text()
        rel = path.relative_to(src).as_posix()
        if loaders.search(text) and rel != "reader.py":
            readers.append(rel)
        if writes.search(text) and rel != "fsio.py":
            writers.append(rel)
    assert readers == []
    assert writers == []
