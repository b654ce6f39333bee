"""gitopsgen against its peers in the same run: the seed's bash script and the
hand-written Jinja2 generator of ``../shared/bench-peers`` (issue 17's peer targets).

``benchmarks/run.py --peers`` (``make bench`` passes it) calls the peers the way
``../shared/bench-peers/run_peers.py`` does, through that harness itself (imported from
``../shared``, nothing of it is copied here): the same plain input (``t00000``,
``t00001``, ... with name and ip only, the one kind of tenant the seed script makes),
the same commands, the same process timing and peak RSS (GNU time). For each size:

- cold: ``gitopsgen build`` and ``gen.py`` into an empty output directory;
- no change: ``gitopsgen build`` again (compares, writes nothing) and
  ``gen.py --only-changed`` (reads each file, skips equal ones);
- one more tenant: ``gitopsgen add-tenant NAME --ip IP`` (then ``remove-tenant``, which
  must restore tenants.yaml byte for byte) and ``hack/add-tenant.sh NAME IP`` (then
  ``remove-tenant.sh``) in a seed repository grown to N tenants one add at a time (not
  timed; only up to ``BASH_MAX`` tenants: the script is O(N) per add).

Inside each round gitopsgen and the peer run one after the other, alternating which goes
first, so load from other jobs on the machine lands on both. The ratio printed is the
median over rounds of gitopsgen's run / the peer's run of the same round ("per round",
as run_peers.py reports it); the medians of both are in the table too. Before timing,
both trees must hold the same YAML paths, else the ratio is n/a. run_peers.py, not this
script, checks that the objects are equal (``--verify-n``, kubectl kustomize).

When the harness or an installed peer is missing, the rows are n/a with the reason.
At 1,000 and 5,000 tenants this takes 5-11 minutes on the shared 2-core machine (growing
the seed repository to 1,000 tenants alone 80-100 s).
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PEERS_DIR = ROOT.parent / "shared" / "bench-peers"  # ../shared/bench-peers
# run_peers.py's default scratch directory, where setup.sh installs the peers.
SCRATCH = Path(os.environ.get("PEERS_SCRATCH", os.path.join(tempfile.gettempdir(), "peers")))
PEER_SIZES = (1000, 5000)
BASH_MAX = 1000  # growing the seed repository to N is O(N^2): run_peers.py's --bash-max

# Row operations (the row's n is the size); the gitopsgen rows carry the ratio.
COLD = "peers build-cold"
COLD_PEER = "peers gen.py cold"
NOCHANGE = "peers build-nochange"
NOCHANGE_PEER = "peers gen.py --only-changed"
ADD = "peers add-tenant"
ADD_PEER = "peers add-tenant.sh"


@dataclass
class Timed:
    """The runs of one operation of one peer at one size."""

    runs: list[float] = field(default_factory=list)
    rss_kb: int = 0
    note: str = ""


@dataclass
class Pair:
    """gitopsgen and a peer doing the same thing, round by round."""

    n: int
    op: str
    peer_op: str
    label: str  # what the ratio is against, printed after it
    gitopsgen: Timed = field(default_factory=Timed)
    peer: Timed = field(default_factory=Timed)
    note: str = ""  # why the ratio is n/a

    @property
    def ratio(self) -> float | None:
        """Median over rounds of gitopsgen / peer (runs are appended one per round)."""
        if self.note or not self.gitopsgen.runs or not self.peer.runs:
            return None
        pairs = zip(self.gitopsgen.runs, self.peer.runs, strict=False)
        ratios = [a / b for a, b in pairs if b > 0]
        return statistics.median(ratios) if ratios else None


def load_harness(peers_dir: Path) -> tuple[ModuleType | None, str]:
    """``run_peers`` imported from ``peers_dir``, or None and why not."""
    harness = peers_dir / "run_peers.py"
    if not harness.is_file():
        return None, f"{harness} not found (the peers live in ../shared/bench-peers)"
    spec = importlib.util.spec_from_file_location("run_peers", harness)
    if spec is None or spec.loader is None:
        return None, f"cannot import {harness}"
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_peers"] = module  # its dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a broken harness is reported, it does not stop the run
        return None, f"cannot import {harness}: {exc}"
    return module, ""


def setup_hint(peers_dir: Path) -> str:
    return f"PEERS_SCRATCH={SCRATCH} bash {peers_dir}/setup.sh"


def bench_peers(
    exe: str,
    sizes: list[int],
    repeat: int,
    peers_dir: Path,
    tools_python: Path,
    log: Callable[[str], None],
) -> list[Pair]:
    """The three pairs at each size (add-tenant only up to BASH_MAX); n/a with the
    reason when a peer cannot run here."""
    pairs: list[Pair] = []
    for n in sizes:
        pairs.append(Pair(n, COLD, COLD_PEER, "gen.py cold"))
        pairs.append(Pair(n, NOCHANGE, NOCHANGE_PEER, "gen.py --only-changed"))
        if n <= BASH_MAX:
            pairs.append(Pair(n, ADD, ADD_PEER, "hack/add-tenant.sh"))
    rp, why = load_harness(peers_dir)
    if rp is None:
        for pair in pairs:
            pair.note = why
        return pairs
    try:
        _run(rp, exe, sizes, repeat, tools_python, pairs, log, peers_dir)
    except Exception as exc:  # the harness's API or a peer failed: say so, keep the run
        text = str(exc).strip().splitlines()
        reason = f"the peer run failed: {type(exc).__name__}: {text[0] if text else ''}"[:200]
        log(f"  peers: {reason}")
        for pair in pairs:
            if pair.ratio is None and not pair.note:
                pair.note = reason
    return pairs


def _run(
    rp: Any,
    exe: str,
    sizes: list[int],
    repeat: int,
    tools_python: Path,
    pairs: list[Pair],
    log: Callable[[str], None],
    peers_dir: Path,
) -> None:
    with tempfile.TemporaryDirectory(prefix="gitopsgen-bench-peers-") as tmp:
        work = Path(tmp)
        absent = Path(tmp) / "absent"  # kapitan, not used here
        tools = rp.Tools(Path(exe), Path(exe).parent / "kubectl", tools_python, absent, None)
        gg = rp.Gitopsgen(tools, work)
        jinja2 = rp.Jinja2Gen(tools, work)
        bash = rp.Bash(tools, work)
        missing = {
            "gen.py": jinja2.missing(),
            "hack/add-tenant.sh": bash.missing(),
        }
        if missing["gen.py"]:
            missing["gen.py"] += f" (run {setup_hint(peers_dir)})"

        def timed(t: Timed, fn: Callable[[], Any]) -> None:
            sample = fn()
            t.runs.append(round(sample.wall, 4))
            t.rss_kb = max(t.rss_kb, sample.rss_kb)

        def rounds(pair: Pair, ours: Callable[[], Any], theirs: Callable[[], Any]) -> None:
            for r in range(repeat):
                first_ours = r % 2 == 0
                for which in (0, 1) if first_ours else (1, 0):
                    if which == 0:
                        timed(pair.gitopsgen, ours)
                    else:
                        timed(pair.peer, theirs)

        for n in sizes:
            by_op = {p.op: p for p in pairs if p.n == n}
            ts = rp.tenant_list(n)
            started = time.perf_counter()
            if missing["gen.py"]:
                by_op[COLD].note = by_op[NOCHANGE].note = missing["gen.py"]
            else:
                gg.prepare(ts)
                jinja2.prepare(ts)
                rounds(by_op[COLD], gg.cold, jinja2.cold)
                differ = same_paths(gg.tree(), jinja2.tree())
                if differ:
                    by_op[COLD].note = by_op[NOCHANGE].note = differ
                else:
                    rounds(by_op[NOCHANGE], gg.nochange, jinja2.nochange_skip)
                log(f"  peers N={n}: gitopsgen vs gen.py ({time.perf_counter() - started:.0f} s)")
            add = by_op.get(ADD)
            if add is None:
                continue
            if missing["hack/add-tenant.sh"]:
                add.note = missing["hack/add-tenant.sh"] or ""
                continue
            if gg.n != n:  # the gen.py rounds did not run: gitopsgen's tree at N first
                gg.prepare(ts)
                gg.cold()
            if not bash.work.is_dir() or bash.n > n or bash.ts != ts[: bash.n]:
                bash.prepare([])
            grow = time.perf_counter()
            bash.grow_to(ts)  # not timed: the seed repository at N tenants
            log(f"  peers N={n}: seed repository grown in {time.perf_counter() - grow:.0f} s")
            name, ip = rp.tenant_name(n), rp.tenant_ip(n)

            def ours(name: str = name, ip: str = ip) -> Any:
                sample = gg.add_one(name, ip)
                gg.undo_add(name)  # remove-tenant; raises unless tenants.yaml is restored
                return sample

            def theirs(name: str = name, ip: str = ip) -> Any:
                sample = bash.add_one(name, ip)
                bash.undo_add(name)
                return sample

            rounds(add, ours, theirs)
            log(f"  peers N={n}: add-tenant vs add-tenant.sh done")


def same_paths(ours: Path, theirs: Path) -> str:
    """'' when both trees hold the same YAML files (by path), else what differs."""

    def yaml_paths(root: Path) -> set[str]:
        found = set()
        for dirpath, _, names in os.walk(root):
            for name in names:
                if name.endswith((".yaml", ".yml")):
                    found.add(os.path.relpath(os.path.join(dirpath, name), root))
        return found

    a, b = yaml_paths(ours), yaml_paths(theirs)
    if a == b and a:
        return ""
    only_a, only_b = sorted(a - b)[:2], sorted(b - a)[:2]
    return f"trees differ: only gitopsgen's {only_a}, only gen.py's {only_b}"
