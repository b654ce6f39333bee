"""The benchmark script must not rot: its synthetic tenants.yaml is valid, and a
tiny run of it produces its table and JSON. No timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gitopsgen.config import parse

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks" / "run.py"
PEERS_DIR = ROOT.parent / "shared" / "bench-peers"


def _generator():  # type: ignore[no-untyped-def]
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_run", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("n", [0, 1, 10, 300])
def test_synthetic_tenants_yaml_is_valid(n: int) -> None:
    bench = _generator()
    config, _ = parse(bench.tenants_yaml(n), "bench.yaml")
    assert len(config.tenants) == n
    if n >= 300:
        # A realistic share of tenants with overrides (10-20%).
        overridden = [
            t
            for t in config.tenants
            if t.hostname or t.vcluster.values or t.vcluster.auth_delegator
        ]
        assert 0.10 <= len(overridden) / n <= 0.20
        changed, _ = parse(bench.change_one_tenant(bench.tenants_yaml(n), n), "bench.yaml")
        assert sum(a.ip != b.ip for a, b in zip(config.tenants, changed.tenants, strict=True)) == 1


def test_quick_run_writes_table_and_json(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    absent = tmp_path / "no-bench-peers"
    argv = [sys.executable, str(BENCH), "--sizes", "10", "--repeat", "1", "--output", str(out)]
    argv += ["--peers", "--peers-dir", str(absent), "--peer-sizes", "1000,5000"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "| N " in proc.stdout and "build-cold" in proc.stdout
    result = json.loads(out.read_text())
    ops = {row["op"]: row for row in result["rows"] if row["n"] == 10}
    for op in ("build-cold", "build-nochange", "check-nochange", "check-one"):
        assert ops[op]["seconds"] > 0 and ops[op]["rss_mb"] > 0
    assert ops["build-nochange"]["ratio"] is not None
    assert result["machine"]["python"]
    # --peers without the peers: the three peer targets are n/a, saying why.
    peer_lines = [v for v in result["verdicts"] if "Jinja2" in v or "bash script" in v]
    assert len(peer_lines) == 5, result["verdicts"]
    for line in peer_lines:
        assert line.startswith("n/a ") and f"{absent}/run_peers.py not found" in line, line
        assert line in proc.stdout
    na_rows = [r for r in result["rows"] if r["op"].startswith("peers ")]
    assert {r["op"] for r in na_rows} >= {"peers build-cold", "peers add-tenant"}
    assert all(r["seconds"] is None and "not found" in r["note"] for r in na_rows)


def test_without_peers_flag_the_peer_targets_say_how_to_run_them() -> None:
    bench = _generator()
    lines = bench.verdicts([], [10])
    peer_lines = [v for v in lines if "Jinja2" in v or "bash script" in v]
    assert len(peer_lines) == 5
    assert all(v.startswith("n/a ") and "pass --peers" in v for v in peer_lines)


@pytest.mark.skipif(not PEERS_DIR.is_dir(), reason=f"{PEERS_DIR} (../shared) is absent")
def test_peers_are_run_or_reported_na_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The peer comparison at 10 tenants, in process: gitopsgen and the seed's bash
    script add a tenant round by round; gen.py runs when setup.sh's python (or this
    one) has jinja2, else its rows are n/a with the import error."""
    bench = _generator()
    monkeypatch.setenv("GITOPSGEN_CACHE_DIR", str(tmp_path / "cache"))
    tools_python = bench.peers.SCRATCH / "venv-tools/bin/python"
    if not tools_python.exists():
        tools_python = Path(sys.executable)
    has_jinja2 = (
        subprocess.run(
            [str(tools_python), "-c", "import jinja2, yaml"], capture_output=True
        ).returncode
        == 0
    )
    pairs = bench.peers.bench_peers(
        bench.gitopsgen_exe(), [10], 2, PEERS_DIR, tools_python, lambda _msg: None
    )
    by_op = {p.op: p for p in pairs}
    assert set(by_op) == {bench.peers.COLD, bench.peers.NOCHANGE, bench.peers.ADD}
    add = by_op[bench.peers.ADD]
    assert add.note == "" and len(add.gitopsgen.runs) == len(add.peer.runs) == 2
    assert add.ratio is not None and add.ratio > 0
    for op in (bench.peers.COLD, bench.peers.NOCHANGE):
        pair = by_op[op]
        if has_jinja2:
            assert pair.note == "" and len(pair.peer.runs) == 2 and pair.ratio is not None
        else:
            assert pair.ratio is None and "jinja2" in pair.note, pair.note
    rows = bench.peer_rows(pairs)
    assert len(rows) == 6
    ours = {r.op: r for r in rows}[bench.peers.ADD]
    assert ours.seconds is not None and ours.floor == "hack/add-tenant.sh"
    # Measured at 10 only: the 1,000 / 5,000 targets say which size is missing.
    lines = bench.verdicts(rows, [10], (), peers_note="")
    assert any(v.startswith("n/a ") and "--peer-sizes ...,1000" in v for v in lines)
