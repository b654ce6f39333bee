"""Lean plans (plan.plan_lean: made tenant by tenant, verified while made, documents
dropped) hold exactly the bytes of a full plan, and the same verdict."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from gitopsgen import render
from gitopsgen.config import parse
from gitopsgen.consistency import find_inconsistencies
from gitopsgen.plan import plan_lean, plan_platform
from gitopsgen.platform import resolve

ROOT = Path(__file__).resolve().parents[1]
CASES = sorted(
    p for p in (ROOT / "tests" / "cases").glob("*/tenants.yaml") if p.parent.name != "invalid"
)


def _module(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[f"bench_{name}"] = module
    spec.loader.exec_module(module)
    return module


def _texts() -> list[tuple[str, str]]:
    found = [(p.parent.name, p.read_text()) for p in CASES]
    found.append(("fleet-example", (ROOT / "examples/fleet/tenants.yaml").read_text()))
    found.append(("tenants.yaml", (ROOT / "tenants.yaml").read_text()))
    found.append(("bench-300", _module("run.py").tenants_yaml(300)))
    found.append(("fleet-200", _module("fleet.py").fleet_yaml(200)))
    return found


@pytest.mark.parametrize(("name", "text"), _texts(), ids=[n for n, _ in _texts()])
def test_a_lean_plan_has_the_bytes_of_a_full_plan(name: str, text: str) -> None:
    config, _ = parse(text, "tenants.yaml")
    platform = resolve(config, "./generated")
    full = plan_platform(platform)
    lean = plan_lean(platform)
    assert list(lean) == list(full)
    assert lean.contents() == full.contents()
    assert lean.verified == ()
    assert all(f.output.docs == () for f in lean.values())


def test_a_lean_plan_finds_what_verify_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    original = render.render_tenant_files

    def broken(ctx: Any, cluster: Any, tenant: Any) -> Any:
        files = original(ctx, cluster, tenant)
        for f in files:
            for doc in f.docs:
                spec = doc.get("spec") if isinstance(doc, dict) else None
                if isinstance(spec, dict) and isinstance(spec.get("dependsOn"), list):
                    spec["dependsOn"] = [*spec["dependsOn"], {"name": f"missing-{tenant.name}"}]
                if isinstance(spec, dict) and isinstance(spec.get("path"), str):
                    spec["path"] = spec["path"] + "-gone"
        return files

    monkeypatch.setattr(render, "render_tenant_files", broken)
    config, _ = parse((ROOT / "examples/fleet/tenants.yaml").read_text(), "tenants.yaml")
    platform = resolve(config, "./generated")
    full = plan_platform(platform)
    flux = config.defaults.flux
    expected = find_inconsistencies(
        full, flux_root="./generated", external=flux.external, flux_namespace=flux.namespace
    )
    assert expected  # the breakage is seen
    lean = plan_lean(platform)
    assert lean.verified is not None
    assert list(lean.verified) == expected
