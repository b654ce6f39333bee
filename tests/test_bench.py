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
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--sizes", "10", "--repeat", "1", "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "| N " in proc.stdout and "build-cold" in proc.stdout
    result = json.loads(out.read_text())
    ops = {row["op"]: row for row in result["rows"] if row["n"] == 10}
    for op in ("build-cold", "build-nochange", "check-nochange", "check-one"):
        assert ops[op]["seconds"] > 0 and ops[op]["rss_mb"] > 0
    assert ops["build-nochange"]["ratio"] is not None
    assert result["machine"]["python"]
