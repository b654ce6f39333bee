"""Benchmark gitopsgen as a user runs it: whole processes, medians, peak RSS.

``python benchmarks/run.py`` (or ``make bench``) generates synthetic tenants.yaml
files with N tenants (a /16 pool, ~15% of tenants with overrides: Helm values,
authDelegator, a custom hostname) and, for each N, times:

- ``build`` cold, into an empty directory, and ``build`` again with nothing changed;
- ``check`` with nothing changed, and with one tenant's address changed;
- ``add-tenant`` on the N-tenant file, and ``diff --base HEAD`` with one tenant changed;
- the floor: ``cp -r`` of the produced tree into an empty directory, and ``cat`` of
  all its files;
- with ``--peers`` (``make bench``), the peers of issue 17 in the same run: the seed's
  bash script's add and the hand-written Jinja2 generator, cold and changed-only, from
  ``../shared/bench-peers`` (see ``benchmarks/peers.py``).

Each figure is the median of several runs of ``.venv/bin/gitopsgen`` as a
subprocess; peak RSS comes from ``os.wait4`` of that very process. A command
that is not installed yet is reported as ``n/a`` with the reason. The table is
printed and written as JSON to ``benchmarks/results/latest.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers  # noqa: E402
from fleet import change_one_fleet_tenant, fleet_yaml, kustomize_paths  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "latest.json"
DEFAULT_SIZES = (10, 100, 1000, 5000)
QUICK_SIZES = (10, 100)

# The targets of issue 17 (ratios measured in the same run): see verdicts().
FLOOR_TARGETS: dict[str, tuple[str, float]] = {
    "build-cold": ("cp -r", 3.0),
    "build-nochange": ("cat", 3.0),
    "check-nochange": ("cat", 3.0),
}
MEMORY_LIMIT_MB = 300.0  # peak RSS at 20,000 tenants
SMALL_LIMIT = 0.12  # validate / check at 10 tenants, seconds


def gitopsgen_exe() -> str:
    """The gitopsgen of the virtualenv next to this interpreter, else of .venv."""
    for candidate in (Path(sys.executable).parent / "gitopsgen", ROOT / ".venv/bin/gitopsgen"):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("gitopsgen")
    if found is None:
        raise SystemExit("gitopsgen is not installed: run `make install` first")
    return found


# --------------------------------------------------------------------------- input


def tenant_name(i: int) -> str:
    return f"t{i:05d}"


def tenant_ip(i: int) -> str:
    # 10.20.0.0/16; .0.0-.0.9 are left to `reserved` and add-tenant.
    value = 10 + i
    return f"10.20.{value // 256}.{value % 256}"


def tenants_yaml(n: int) -> str:
    """A valid tenants.yaml with ``n`` tenants, about 17% of them with overrides
    (a custom hostname, authDelegator, Helm values)."""
    lines = [
        "# yaml-language-server: $schema=schema/tenants.schema.json",
        "# Synthetic tenants.yaml written by benchmarks/run.py.",
        "version: 1",
        "output: generated              # tree root, relative to this file",
        "pool:",
        "  - 10.20.0.0/16",
        "reserved:",
        "  traefik: 10.20.0.1",
        "  grafana: 10.20.0.2",
        "  prometheus: 10.20.0.3",
        "defaults:",
        "  vcluster:",
        "    values:",
        "      telemetry: {enabled: false}",
        "  ingress:",
        "    # the Gateway serves the custom hostnames too",
        '    listenerHostnames: ["*.traefik.local", "*.example.com"]',
        "tenants:" if n else "tenants: []",
    ]
    for i in range(n):
        lines.append(f"  - name: {tenant_name(i)}          # team {i % 37}")
        lines.append(f"    ip: {tenant_ip(i)}")
        if i % 17 == 5:
            lines.append(f"    hostname: shop-{i}.example.com")
        auth, values = i % 23 == 3, i % 13 == 7
        if auth or values:
            lines.append("    vcluster:")
            if auth:
                lines.append("      authDelegator: true")
            if values:
                lines += [
                    "      values:",
                    "        sync:",
                    "          fromHost:",
                    "            nodes: {enabled: true, syncBackChanges: false}",
                    "            storageClasses: {enabled: true}",
                    "        controlPlane:",
                    "          statefulSet:",
                    "            resources:",
                    f"              limits: {{memory: {1 + i % 4}Gi}}",
                ]
    return "\n".join(lines) + "\n"


def change_one_tenant(text: str, n: int) -> str:
    """The same file with the address of the middle tenant changed."""
    i = n // 2
    old = f"    ip: {tenant_ip(i)}\n"
    new = f"    ip: 10.20.255.{200 + i % 50}\n"
    assert text.count(old) == 1, old
    return text.replace(old, new)


# --------------------------------------------------------------------------- running


@dataclass
class Sample:
    seconds: float
    rss_kb: int
    returncode: int


@dataclass
class Row:
    n: int
    op: str
    seconds: float | None = None
    runs: list[float] = field(default_factory=list)
    rss_mb: float | None = None
    files: int | None = None
    floor: str | None = None
    ratio: float | None = None
    note: str = ""


def spawn(
    argv: Sequence[str],
    cwd: Path,
    ok: Sequence[int] = (0,),
    env: dict[str, str] | None = None,
) -> Sample:
    """Run one process to completion; its wall time and its own peak RSS."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        full = {**os.environ, **env} if env else None
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=full)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if code not in ok:
            out.seek(0)
            tail = out.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"{' '.join(argv)} exited {code}:\n{tail}")
    return Sample(elapsed, usage.ru_maxrss, code)


def measure(
    run: Callable[[], Sample],
    repeat: int,
    setup: Callable[[], None] | None = None,
    teardown: Callable[[], None] | None = None,
) -> tuple[list[float], int]:
    times: list[float] = []
    rss = 0
    for _ in range(repeat):
        if setup is not None:
            setup()
        sample = run()
        if teardown is not None:
            teardown()
        times.append(sample.seconds)
        rss = max(rss, sample.rss_kb)
    return times, rss


def command_missing(exe: str, command: str) -> str | None:
    """Why ``gitopsgen COMMAND`` cannot be measured, or None when it exists."""
    proc = subprocess.run([exe, command, "--help"], capture_output=True, text=True)
    if proc.returncode == 0:
        return None
    message = (proc.stderr or proc.stdout).strip().splitlines()
    return f"`gitopsgen {command}` is not available ({message[-1] if message else proc.returncode})"


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def measure_floors(out: Path, copy: Path, work: Path, repeat: int) -> list[tuple[str, list[float]]]:
    """The floor of a tree: ``cp -r`` of it into an empty ``copy``, and ``cat`` of every
    file in it; (name, times) of each."""

    def wipe_copy() -> None:
        shutil.rmtree(copy, ignore_errors=True)

    copied, _ = measure(
        lambda: spawn(["cp", "-r", str(out), str(copy)], work), repeat, setup=wipe_copy
    )
    wipe_copy()
    cat = ["sh", "-c", f"find '{out}' -type f -exec cat {{}} + > /dev/null"]
    read, _ = measure(lambda: spawn(cat, work), repeat)
    return [("cp -r", copied), ("cat", read)]


def with_ratios(rows: list[Row], files: int) -> list[Row]:
    """Each row's file count, and its ratio to the floor it names (a "floor: X" row)."""
    floors = {r.op.split("floor: ")[1]: r.seconds for r in rows if "floor: " in r.op}
    for row in rows:
        row.files = files
        if row.floor and row.seconds is not None and floors.get(row.floor):
            row.ratio = round(row.seconds / floors[row.floor], 2)
    return rows


def bench_size(exe: str, n: int, repeat: int, missing: dict[str, str | None]) -> list[Row]:
    rows: list[Row] = []
    text = tenants_yaml(n)
    changed = change_one_tenant(text, n)
    with tempfile.TemporaryDirectory(prefix=f"gitopsgen-bench-{n}-") as tmp:
        work = Path(tmp) / "repo"
        work.mkdir()
        config = work / "tenants.yaml"
        config.write_text(text)
        out = work / "generated"
        cfg = ["-c", str(config)]

        def add(op: str, times: list[float], rss_kb: int | None, floor: str | None = None) -> Row:
            row = Row(n, op, statistics.median(times), [round(t, 4) for t in times], floor=floor)
            if rss_kb is not None:
                row.rss_mb = round(rss_kb / 1024, 1)
            rows.append(row)
            return row

        def wipe() -> None:
            shutil.rmtree(out, ignore_errors=True)

        # build, cold: an empty output directory every time.
        times, rss = measure(lambda: spawn([exe, "build", *cfg, "-q"], work), repeat, setup=wipe)
        add("build-cold", times, rss, "cp -r")
        files = sum(len(f) for _, _, f in os.walk(out))
        times, rss = measure(lambda: spawn([exe, "build", *cfg, "-q"], work), repeat)
        add("build-nochange", times, rss, "cat")
        times, rss = measure(lambda: spawn([exe, "check", *cfg, "-q"], work), repeat)
        add("check-nochange", times, rss, "cat")
        times, rss = measure(lambda: spawn([exe, "validate", *cfg, "-q"], work), repeat)
        add("validate", times, rss)
        if n <= 100:  # the fixed cost without the command cache (gitopsgen.cache)
            nocache = {"GITOPSGEN_NO_CACHE": "1"}
            times, rss = measure(
                lambda: spawn([exe, "check", *cfg, "-q"], work, env=nocache), repeat
            )
            add("check-nochange (no cache)", times, rss, "cat")
            times, rss = measure(
                lambda: spawn([exe, "validate", *cfg, "-q"], work, env=nocache), repeat
            )
            add("validate (no cache)", times, rss)

        # The floor: copy the tree into an empty directory, read every file.
        for floor, times in measure_floors(out, Path(tmp) / "copy", work, repeat):
            add(f"floor: {floor}", times, None)

        # check with one tenant changed: exit 1, drift in that tenant's files.
        config.write_text(changed)
        times, rss = measure(lambda: spawn([exe, "check", *cfg, "-q"], work, ok=(1,)), repeat)
        add("check-one", times, rss, "cat")
        config.write_text(text)

        # add-tenant on the N-tenant file (edit + build); restore the file and tree after.
        if missing["add-tenant"]:
            rows.append(Row(n, "add-tenant", note=missing["add-tenant"] or ""))
        else:

            def restore() -> None:
                config.write_text(text)
                spawn([exe, "build", *cfg, "-q"], work)

            times, rss = measure(
                lambda: spawn([exe, "add-tenant", *cfg, "zz-bench-new"], work),
                repeat,
                teardown=restore,
            )
            add("add-tenant", times, rss)

        # diff --base HEAD with one tenant changed in the working tree.
        if missing["diff"]:
            rows.append(Row(n, "diff-one", note=missing["diff"] or ""))
        else:
            git(work, "init", "-q", "-b", "main")
            (work / ".gitignore").write_text("generated/\n")
            git(work, "add", "tenants.yaml", ".gitignore")
            git(work, "commit", "-q", "-m", "base")
            config.write_text(changed)
            times, rss = measure(
                lambda: spawn([exe, "diff", *cfg, "--base", "HEAD"], work, ok=(0, 1)), repeat
            )
            add("diff-one", times, rss)
            config.write_text(text)

    return with_ratios(rows, files)


def bench_startup(exe: str, repeat: int) -> list[Row]:
    rows = []
    for op, argv in (
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("gitopsgen --help", [exe, "--help"]),
    ):
        times, rss = measure(lambda argv=argv: spawn(argv, ROOT), repeat)
        rows.append(Row(0, op, statistics.median(times), [round(t, 4) for t in times]))
        rows[-1].rss_mb = round(rss / 1024, 1)
    return rows


# --------------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load": load_average(),
    }


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (other jobs on a shared machine)."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def bench_fleet(exe: str, n: int, repeat: int) -> list[Row]:
    """The fleet case: a version 2 file of ``n`` tenants over 4 clusters x 4 shards."""
    rows: list[Row] = []
    text = fleet_yaml(n)
    with tempfile.TemporaryDirectory(prefix=f"gitopsgen-fleet-{n}-") as tmp:
        work = Path(tmp) / "repo"
        work.mkdir()
        config = work / "tenants.yaml"
        config.write_text(text)
        out = work / "generated"
        cfg = ["-c", str(config)]

        def add(op: str, times: list[float], rss_kb: int | None, floor: str | None = None) -> Row:
            row = Row(n, f"fleet {op}", statistics.median(times), [round(t, 4) for t in times])
            row.floor = floor
            if rss_kb is not None:
                row.rss_mb = round(rss_kb / 1024, 1)
            rows.append(row)
            return row

        def wipe() -> None:
            shutil.rmtree(out, ignore_errors=True)

        # A size tenants.yaml refuses (a limit of the validation) is reported, not run.
        probe = subprocess.run([exe, "validate", *cfg], cwd=work, capture_output=True, text=True)
        if probe.returncode != 0:
            reason = (probe.stderr or probe.stdout).strip().splitlines()[-1]
            return [Row(n, "fleet build-cold", note=f"refused: {reason}")]

        times, rss = measure(lambda: spawn([exe, "build", *cfg, "-q"], work), repeat, setup=wipe)
        add("build-cold", times, rss, "cp -r")
        files = sum(len(f) for _, _, f in os.walk(out))
        times, rss = measure(lambda: spawn([exe, "build", *cfg, "-q"], work), repeat)
        add("build-nochange", times, rss, "cat")
        times, rss = measure(lambda: spawn([exe, "check", *cfg, "-q"], work), repeat)
        add("check-nochange", times, rss, "cat")
        for floor, times in measure_floors(out, Path(tmp) / "copy", work, repeat):
            add(f"floor: {floor}", times, None)

        # add-tenant: a version 2 file needs --cluster (or the editor places it).
        new = ["add-tenant", *cfg, "zz-bench-new"]
        try:
            times, rss = measure(
                lambda: spawn([exe, *new], work),
                repeat,
                teardown=lambda: (config.write_text(text), spawn([exe, "build", *cfg, "-q"], work)),
            )
            add("add-tenant", times, rss)
        except RuntimeError as exc:
            config.write_text(text)
            reason = str(exc).strip().splitlines()[-1][:120]
            rows.append(Row(n, "fleet add-tenant", note=f"fails: {reason}"))

        # diff --base HEAD with one tenant changed.
        git(work, "init", "-q", "-b", "main")
        (work / ".gitignore").write_text("generated/\n")
        git(work, "add", "tenants.yaml", ".gitignore")
        git(work, "commit", "-q", "-m", "base")
        config.write_text(change_one_fleet_tenant(text, n))
        times, rss = measure(
            lambda: spawn([exe, "diff", *cfg, "--base", "HEAD"], work, ok=(0, 1)), repeat
        )
        add("diff-one", times, rss)
        config.write_text(text)

        # The largest kustomize build a Flux controller runs above the tenants.
        kubectl = Path(exe).parent / "kubectl"
        if kubectl.exists():
            timed = []
            for rel in kustomize_paths(str(out), n):
                sample = spawn([str(kubectl), "kustomize", str(out / rel)], work)
                timed.append((sample.seconds, rel))
            slowest = max(timed)[1]
            times, _ = measure(
                lambda: spawn([str(kubectl), "kustomize", str(out / slowest)], work), repeat
            )
            row = add("kustomize max", times, None)
            row.note = f"{slowest} (slowest of {len(timed)} entry/shard/bucket builds)"
        else:
            rows.append(Row(n, "fleet kustomize max", note="kubectl is not installed in the venv"))

    return with_ratios(rows, files)


NO_PEERS = "the peers were not run (pass --peers; make bench does)"
PEER_TARGETS = 1.0  # cold and no-change build vs the Jinja2 generator
BASH_TARGET = 5.0  # add-tenant vs the bash script's add


def peer_rows(pairs: list[peers.Pair]) -> list[Row]:
    """gitopsgen's row (with the per-round ratio to the peer) and the peer's row."""
    rows: list[Row] = []
    for pair in pairs:
        for op, timed in ((pair.op, pair.gitopsgen), (pair.peer_op, pair.peer)):
            row = Row(pair.n, op, note=timed.note or pair.note)
            if timed.runs:
                row.seconds = statistics.median(timed.runs)
                row.runs = timed.runs
                row.rss_mb = round(timed.rss_kb / 1024, 1)
            rows.append(row)
        rows[-2].floor = pair.label
        ratio = pair.ratio
        rows[-2].ratio = round(ratio, 2) if ratio is not None else None
    return rows


def verdicts(
    rows: list[Row],
    sizes: Sequence[int],
    fleet: Sequence[int] = (),
    peers_note: str = NO_PEERS,
) -> list[str]:
    """Every target of issue 17, ok / MISS / n/a (with why)."""
    lines: list[str] = []
    by = {(r.n, r.op): r for r in rows}

    def na(what: str, why: str) -> None:
        lines.append(f"n/a  {what}: {why}")

    def seconds(what: str, row: Row | None, limit: float, missing: str) -> None:
        if row is None or row.seconds is None:
            na(what, row.note if row is not None and row.note else missing)
            return
        ok = "ok  " if row.seconds <= limit else "MISS"
        lines.append(f"{ok} {what}: {row.seconds:.3f} s (target <= {limit:g} s)")

    def ratio(what: str, row: Row | None, limit: float, missing: str) -> None:
        if row is None or row.ratio is None:
            na(what, row.note if row is not None and row.note else missing)
            return
        ok = "ok  " if row.ratio <= limit else "MISS"
        lines.append(f"{ok} {what}: {row.ratio:.2f}x {row.floor} (target <= {limit:g}x)")

    no_v1 = "not measured in this run (pass --sizes ...,1000)"
    refused = by.get((20000, "fleet build-cold"))
    no_fleet = (
        refused.note
        if refused is not None and refused.note
        else "not measured in this run (pass --fleet ...,20000)"
    )
    seconds("add-tenant at 1,000", by.get((1000, "add-tenant")), 0.5, no_v1)

    def peer_missing(n: int) -> str:
        return peers_note or f"not measured in this run (pass --peer-sizes ...,{n})"

    ratio(
        "add-tenant at 1,000 vs the bash script's add, per round",
        by.get((1000, peers.ADD)),
        BASH_TARGET,
        peer_missing(1000),
    )
    seconds("add-tenant at 20,000 (fleet)", by.get((20000, "fleet add-tenant")), 1.5, no_fleet)
    seconds("validate at 10", by.get((10, "validate")), SMALL_LIMIT, "pass --sizes 10,...")
    seconds("check at 10", by.get((10, "check-nochange")), SMALL_LIMIT, "pass --sizes 10,...")
    for op, (_, limit) in FLOOR_TARGETS.items():
        ratio(f"{op} at 1,000", by.get((1000, op)), limit, no_v1)
        ratio(f"{op} at 20,000 (fleet)", by.get((20000, f"fleet {op}")), limit, no_fleet)
    peak_rows = [r for r in rows if r.n == 20000 and r.op.startswith("fleet") and r.rss_mb]
    if peak_rows:
        peak = max(r.rss_mb or 0.0 for r in peak_rows)
        ok = "ok  " if peak <= MEMORY_LIMIT_MB else "MISS"
        lines.append(f"{ok} peak RSS at 20,000 (fleet): {peak:.0f} MB (target <= 300 MB)")
    else:
        na("peak RSS at 20,000", no_fleet)
    seconds("one-tenant diff at 20,000 (fleet)", by.get((20000, "fleet diff-one")), 1.5, no_fleet)
    measured = sorted(f for f in fleet if by.get((f, "fleet build-cold")))
    if len(measured) >= 2:
        small, big = measured[0], measured[-1]
        per = [(by[(f, "fleet build-cold")].seconds or 0.0) / f for f in (small, big)]
        growth = per[1] / per[0]
        ok = "ok  " if growth <= 1.10 else "MISS"
        lines.append(
            f"{ok} per-tenant cold build {small:,} -> {big:,} (fleet): "
            f"{per[0] * 1e6:.0f} -> {per[1] * 1e6:.0f} us, {growth:.2f}x "
            "(target flat or falling: <= 1.10x)"
        )
    else:
        na("per-tenant cost from 1,000 to 20,000", "needs two --fleet sizes")
    for n in (1000, 5000):
        ratio(
            f"cold build at {n:,} vs the Jinja2 generator, per round",
            by.get((n, peers.COLD)),
            PEER_TARGETS,
            peer_missing(n),
        )
    for n in (1000, 5000):
        ratio(
            f"no-change build at {n:,} vs the Jinja2 generator writing only changed files, "
            "per round",
            by.get((n, peers.NOCHANGE)),
            PEER_TARGETS,
            peer_missing(n),
        )
    for f in fleet:
        row = by.get((f, "fleet kustomize max"))
        if row is not None and row.seconds is not None:
            lines.append(
                f"info fleet {f:,}: largest kubectl kustomize {row.seconds:.3f} s: {row.note}"
            )
    return lines


def table(rows: list[Row]) -> str:
    head = ("N", "operation", "median", "vs floor", "peak RSS", "per tenant", "runs")
    body: list[tuple[str, ...]] = []
    for r in rows:
        if r.seconds is None:
            note = r.note if len(r.note) <= 70 else r.note[:67] + "..."
            body.append((str(r.n), r.op, "n/a", "", "", "", note))
            continue
        ratio = f"{r.ratio:.2f}x {r.floor}" if r.ratio is not None else ""
        rss = f"{r.rss_mb:.0f} MB" if r.rss_mb is not None else ""
        per = f"{r.seconds / r.n * 1e6:.0f} us" if r.n else ""
        body.append(
            (
                str(r.n) if r.n else "-",
                r.op,
                f"{r.seconds * 1000:.0f} ms",
                ratio,
                rss,
                per,
                str(len(r.runs)),
            )
        )
    widths = [max(len(row[i]) for row in (head, *body)) for i in range(len(head))]

    def fmt(row: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([fmt(head), sep, *(fmt(row) for row in body)])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=lambda s: [int(x) for x in s.split(",") if x],
        help="comma-separated tenant counts (default 10,100,1000,5000)",
    )
    parser.add_argument(
        "--fleet",
        type=lambda s: [int(x) for x in s.split(",") if x],
        default=[],
        help="also the fleet case (version 2, 4 clusters x 4 shards) at these tenant counts; "
        "make bench passes 2000,20000",
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (default 5)")
    parser.add_argument(
        "--peers",
        action="store_true",
        help="also time the seed's bash script and the Jinja2 generator of "
        "../shared/bench-peers in this run (n/a with the reason when they are not there); "
        "make bench passes it",
    )
    parser.add_argument(
        "--peer-sizes",
        type=lambda s: [int(x) for x in s.split(",") if x],
        default=list(peers.PEER_SIZES),
        help="tenant counts of the peer comparison (default 1000,5000; the bash script "
        f"up to {peers.BASH_MAX})",
    )
    parser.add_argument(
        "--peers-dir",
        type=Path,
        default=peers.PEERS_DIR,
        help="the bench-peers directory (default ../shared/bench-peers)",
    )
    parser.add_argument(
        "--peers-python",
        type=Path,
        default=peers.SCRATCH / "venv-tools/bin/python",
        help="a python with jinja2 and PyYAML, for gen.py (default: setup.sh's, "
        "$PEERS_SCRATCH/venv-tools/bin/python)",
    )
    parser.add_argument("--quick", action="store_true", help="sizes 10,100 and 3 runs: a smoke run")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    parser.add_argument(
        "--generate", type=int, metavar="N", help="print a synthetic tenants.yaml with N tenants"
    )
    args = parser.parse_args(argv)
    if args.generate is not None:
        sys.stdout.write(tenants_yaml(args.generate))
        return 0
    sizes = args.sizes or (list(QUICK_SIZES) if args.quick else list(DEFAULT_SIZES))
    repeat = min(args.repeat, 3) if args.quick else args.repeat
    exe = gitopsgen_exe()
    # The command cache (gitopsgen.cache) of this run, not the user's: the first run of
    # each figure fills it, as a user's first check after a build would.
    cache_dir = tempfile.mkdtemp(prefix="gitopsgen-bench-cache-")
    os.environ["GITOPSGEN_CACHE_DIR"] = cache_dir
    missing = {cmd: command_missing(exe, cmd) for cmd in ("add-tenant", "diff")}
    info = machine()
    print(
        f"gitopsgen benchmark: {info['cpus']} x {info['cpu']}, Python {info['python']}, "
        f"load average {info['load']}",
        flush=True,
    )
    rows = bench_startup(exe, repeat)
    for n in sizes:
        # The largest size is slow: fewer runs (still a median of at least 3).
        runs = max(3, min(repeat, 3)) if n >= 5000 else repeat
        started = time.perf_counter()
        rows += bench_size(exe, n, runs, missing)
        print(f"  N={n}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    for n in args.fleet:
        # 20,000 tenants: about a minute per cold build here; one run per figure.
        runs = 1 if n >= 10000 else max(1, min(repeat, 3))
        started = time.perf_counter()
        rows += bench_fleet(exe, n, runs)
        print(f"  fleet N={n}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    peers_note = NO_PEERS
    if args.peers:
        peers_note = ""
        started = time.perf_counter()
        # 3 runs per figure, as run_peers.py's --repeat-large at N >= 1000.
        pairs = peers.bench_peers(
            exe,
            args.peer_sizes,
            max(1, min(repeat, 3)),
            args.peers_dir,
            args.peers_python,
            lambda msg: print(msg, file=sys.stderr, flush=True),
        )
        rows += peer_rows(pairs)
        print(f"  peers: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    print(table(rows))
    lines = verdicts(rows, sizes, args.fleet, peers_note)
    for line in lines:
        print(line)
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": info,
        "gitopsgen": exe,
        "sizes": sizes,
        "repeat": repeat,
        "rows": [asdict(r) for r in rows],
        "fleet": args.fleet,
        "peers": {"run": args.peers, "dir": str(args.peers_dir), "sizes": args.peer_sizes},
        "load_at_end": load_average(),
        "verdicts": lines,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"load average at the end {result['load_at_end']}; wrote {args.output}")
    shutil.rmtree(cache_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
