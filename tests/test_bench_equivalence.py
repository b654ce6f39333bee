"""The performance shortcuts of make_plan are output-neutral: every planned file is
exactly what the plain emitter makes of its documents, with nothing shared or
memoised. Also for the benchmark's synthetic tenants.yaml (overrides included)."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path
from typing import Any

import pytest

from gitopsgen.config import parse
from gitopsgen.emit import Shared, dump, dump_stream
from gitopsgen.plan import MANIFEST, _containers, header_line, make_plan

ROOT = Path(__file__).resolve().parents[1]
CASES = sorted(p for p in (ROOT / "tests" / "cases").glob("*/tenants.yaml"))


def _bench_yaml(n: int) -> str:
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module
    spec.loader.exec_module(module)
    text: str = module.tenants_yaml(n)
    return text


def _inputs() -> list[tuple[str, str]]:
    out = [(p.parent.name, p.read_text()) for p in CASES if "invalid" not in p.parts]
    out.append(("bench-60", _bench_yaml(60)))
    return out


@pytest.mark.parametrize(("name", "text"), _inputs(), ids=[n for n, _ in _inputs()])
def test_plan_equals_plain_emission(name: str, text: str) -> None:
    # Every input is a valid tenants.yaml: a parse error is a failure, not a skip.
    config, _ = parse(text, "tenants.yaml")
    plan = make_plan(config, "./generated")
    header = header_line("tenants.yaml")
    for path, planned in plan.items():
        if path == MANIFEST:
            continue
        out = planned.output
        plain = dump_stream(out.docs, header=header, comments=out.comments).encode()
        assert planned.data == plain, path


def test_shared_lines_equal_plain_lines() -> None:
    rnd = random.Random(1)
    scalars: list[Any] = [None, True, 0, 1.5, "", "a", "yes", "- x", "a: b", "x\n", "k" * 1001]
    pool: list[Any] = []

    def gen(depth: int) -> Any:
        r = rnd.random()
        if pool and r < 0.25:
            return rnd.choice(pool)
        if depth > 3 or r < 0.45:
            return rnd.choice(scalars)
        value: Any
        if r < 0.7:
            value = [gen(depth + 1) for _ in range(rnd.randint(0, 3))]
        else:
            value = {rnd.choice(["k", "a b", "-", "k" * 1001]): gen(depth + 1) for _ in range(3)}
        if rnd.random() < 0.3:
            pool.append(value)
        return value

    for _ in range(300):
        docs = [gen(0) for _ in range(4)]
        shared = Shared(_containers(docs + pool))
        for doc in docs:
            assert dump(doc, shared=shared) == dump(doc)
