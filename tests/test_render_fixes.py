"""Issue 12 items 5 and 6: settings that changed only half of what they must.

- ``defaults.vcluster.apiPort`` other than 443 changed ``exportKubeConfig.server`` but
  the chart's Service stayed on 443 (loft-sh/vcluster chart/templates/service.yaml
  keeps port 443 unless ``controlPlane.service.spec.ports`` is set), so Flux's
  kubeconfig named a closed port;
- ``defaults.workload.namespace`` other than ``default`` set ``targetNamespace`` but
  nothing created the namespace inside the vcluster, so the apply failed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import invoke
from gitopsgen.config import parse
from gitopsgen.errors import ConfigError
from gitopsgen.plan import make_plan
from support.kustomize import kustomize

BASE = """\
version: 1
pool: 10.0.0.0/24
defaults:
{defaults}
tenants:
  - name: a
    ip: 10.0.0.10
"""


def _values(defaults: str) -> dict:
    config, _ = parse(BASE.format(defaults=defaults))
    plan = make_plan(config, "./generated")
    (release,) = plan["clusters/vcluster-a/vcluster-a_helmrelease.yaml"].output.docs
    return release["spec"]["values"]


def test_api_port_is_the_port_of_the_service() -> None:
    values = _values("  vcluster:\n    apiPort: 6443")
    assert values["controlPlane"]["service"]["spec"] == {
        "type": "LoadBalancer",
        "ports": [{"name": "https", "port": 6443, "protocol": "TCP", "targetPort": 8443}],
    }
    assert values["exportKubeConfig"]["server"] == "https://vcluster-a.vcluster-a:6443"
    assert values["external"]["platform"]["apiServerPort"] == 6443


def test_the_default_api_port_leaves_the_chart_s_ports() -> None:
    values = _values("  vcluster: {}")
    assert values["controlPlane"]["service"]["spec"] == {"type": "LoadBalancer"}


@pytest.mark.parametrize(
    ("port", "word"), [(0, "greater than or equal to 1"), (65536, "less than or equal to 65535")]
)
def test_api_port_out_of_range(port: int, word: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(BASE.format(defaults=f"  vcluster:\n    apiPort: {port}"))
    assert [p.format() for p in info.value.problems] == [
        f"tenants.yaml:5:14: defaults.vcluster.apiPort: input should be {word}"
    ]


def test_a_workload_namespace_is_created_inside_the_vcluster(tmp_path: Path) -> None:
    cfg = tmp_path / "tenants.yaml"
    cfg.write_text(BASE.format(defaults="  workload:\n    namespace: apps"))
    res = invoke("build", "-q", "-c", str(cfg))
    assert res.code == 0, res.err
    workload = tmp_path / "generated/tenant/tenant-a/workload"
    assert (workload / "apps_namespace.yaml").is_file()
    # The real kustomize builds the directory Flux applies with targetNamespace apps.
    kinds = {(o["kind"], o["metadata"]["name"]) for o in kustomize(workload)}
    assert kinds == {("Namespace", "apps"), ("Deployment", "nginx"), ("Service", "nginx")}
    flux = (tmp_path / "generated/tenant/tenant-a/workload_kustomization.yaml").read_text()
    assert "targetNamespace: apps\n" in flux


def test_the_default_workload_namespace_adds_no_file(tmp_path: Path) -> None:
    cfg = tmp_path / "tenants.yaml"
    cfg.write_text(BASE.format(defaults="  workload: {}"))
    assert invoke("build", "-q", "-c", str(cfg)).code == 0
    workload = tmp_path / "generated/tenant/tenant-a/workload"
    assert sorted(p.name for p in workload.iterdir()) == [
        "kustomization.yaml",
        "nginx_deployment.yaml",
        "nginx_service.yaml",
    ]
