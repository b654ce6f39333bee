"""Issue 12 item 7: Helm values are checked before Flux installs them.

The project's own schema (tests/fixtures/values-schema/small.schema.json) uses the
keywords of the vcluster chart's values.schema.json ($defs/$ref,
``additionalProperties: false``, type, pattern, enum); the chart's schema of v0.30.4
in ../shared/reference/vcluster is used when it is there.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import REPO, invoke
from gitopsgen.config import load
from gitopsgen.errors import ConfigError

SMALL = Path(__file__).parent / "fixtures" / "values-schema" / "small.schema.json"
CHART = REPO.parent / "shared" / "reference" / "vcluster" / "values.schema.json"
CASES = Path(__file__).parent / "cases"

HEAD = "version: 1\npool: 10.0.0.0/24\n"
TYPO = """\
tenants:
  - name: a
    ip: 10.0.0.10
    vcluster:
      values:
        sync:
          toHost:
            ingress:
              enabled: true
"""


def _problems(tmp_path: Path, text: str, schema: Path | None = SMALL) -> list[str]:
    cfg = tmp_path / "tenants.yaml"
    cfg.write_text(text)
    try:
        load(cfg, values_schema=str(schema) if schema else None)
    except ConfigError as exc:
        return [p.format().replace(str(tmp_path) + "/", "") for p in exc.problems]
    return []


def test_a_typo_in_a_tenant_s_values_is_located_at_its_key(tmp_path: Path) -> None:
    assert _problems(tmp_path, HEAD + TYPO) == [
        "tenants.yaml:10:13: tenants[0].vcluster.values.sync.toHost.ingress: Helm values "
        "sync.toHost.ingress: unknown key 'ingress' (additionalProperties is false); the "
        "chart's values schema refuses it (schema path "
        "properties/sync/properties/toHost/additionalProperties)"
    ]


def test_a_wrong_type_and_an_enum(tmp_path: Path) -> None:
    text = HEAD + (
        "tenants:\n  - name: a\n    ip: 10.0.0.10\n    vcluster:\n      values:\n"
        "        sync: {toHost: {pods: {enabled: 'yes'}}}\n"
        "        logging: {encoding: xml}\n"
    )
    assert _problems(tmp_path, text) == [
        "tenants.yaml:8:32: tenants[0].vcluster.values.sync.toHost.pods.enabled: Helm values "
        "sync.toHost.pods.enabled: 'yes' is not of type 'boolean'; the chart's values schema "
        "refuses it (schema path properties/sync/properties/toHost/properties/pods/"
        "properties/enabled/type)",
        "tenants.yaml:9:19: tenants[0].vcluster.values.logging.encoding: Helm values "
        "logging.encoding: 'xml' is not one of ['console', 'json']; the chart's values schema "
        "refuses it (schema path properties/logging/properties/encoding/enum)",
    ]


def test_a_typo_in_the_defaults_is_reported_once_at_the_defaults(tmp_path: Path) -> None:
    text = HEAD + (
        "defaults:\n  vcluster:\n    values:\n      telemetry: {enabled: false}\n"
        "tenants:\n  - {name: a, ip: 10.0.0.10}\n  - {name: b, ip: 10.0.0.11}\n"
    )
    assert _problems(tmp_path, text) == [
        "tenants.yaml:6:7: defaults.vcluster.values.telemetry: Helm values telemetry: "
        "unknown key 'telemetry' (additionalProperties is false); the chart's values schema "
        "refuses it (schema path additionalProperties)"
    ]


def test_the_generated_part_at_fault_is_located_at_the_tenant(tmp_path: Path) -> None:
    schema = tmp_path / "strict.schema.json"
    text = SMALL.read_text().replace('"pattern": "^https://"', '"pattern": "^https://api\\\\."')
    schema.write_text(text)
    problems = _problems(tmp_path, HEAD + "tenants:\n  - name: a\n    ip: 10.0.0.10\n", schema)
    assert problems == [
        "tenants.yaml:4:11: tenants[0].name: the generated values of tenant a: Helm values "
        "exportKubeConfig.server: 'https://vcluster-a.vcluster-a:443' does not match "
        "'^https://api\\\\.'; the chart's values schema refuses it (schema path "
        "properties/exportKubeConfig/properties/server/pattern)"
    ]


def test_two_distros_are_refused_without_any_schema(tmp_path: Path) -> None:
    text = HEAD + (
        "tenants:\n  - name: a\n    ip: 10.0.0.10\n    vcluster:\n      values:\n"
        "        controlPlane:\n          distro:\n            k8s:\n              enabled: true\n"
    )
    expected = (
        "tenants.yaml:11:15: tenants[0].vcluster.values.controlPlane.distro.k8s.enabled: "
        "controlPlane.distro enables k3s, k8s: the chart fails with 'you can only enable one "
        "distro at the same time'; set controlPlane.distro.k3s.enabled: false (or null) "
        "beside it"
    )
    assert _problems(tmp_path, text, None) == [expected]
    for command in ("validate", "build"):
        res = invoke(command, cwd=tmp_path)
        assert res.code == 2
        assert res.err == expected + "\n"
    # Turning the generated k3s off is the way to another distro.
    (tmp_path / "tenants.yaml").write_text(text + "            k3s: {enabled: false}\n")
    assert invoke("validate", cwd=tmp_path).code == 0


def test_values_schema_setting_is_relative_to_tenants_yaml(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    shutil.copy(SMALL, tmp_path / "schemas" / "values.schema.json")
    text = HEAD + "defaults:\n  vcluster:\n    valuesSchema: schemas/values.schema.json\n" + TYPO
    (tmp_path / "tenants.yaml").write_text(text)
    res = invoke("validate", "-c", str(tmp_path / "tenants.yaml"))
    assert res.code == 2
    assert "unknown key 'ingress' (additionalProperties is false)" in res.err
    (tmp_path / "schemas" / "values.schema.json").unlink()
    problems = _problems(tmp_path, text, None)
    assert problems == [
        "tenants.yaml:5:19: defaults.vcluster.valuesSchema: cannot read the values schema "
        "schemas/values.schema.json: No such file or directory"
    ]


def test_the_values_schema_option_of_build_and_check(tmp_path: Path) -> None:
    (tmp_path / "tenants.yaml").write_text(HEAD + TYPO)
    assert invoke("build", "-q", cwd=tmp_path).code == 0  # no schema: builds
    for command in ("build", "check", "validate"):
        res = invoke(command, "--values-schema", str(SMALL), cwd=tmp_path)
        assert res.code == 2, command
        assert res.err.startswith("tenants.yaml:10:13: tenants[0].vcluster.values.sync."), command


@pytest.mark.skipif(not CHART.is_file(), reason=f"{CHART} is absent (../shared not mounted)")
def test_the_chart_schema_accepts_every_golden_case_and_locates_a_typo(tmp_path: Path) -> None:
    for cfg in [REPO / "tenants.yaml", *sorted(CASES.glob("*/tenants.yaml"))]:
        load(cfg, values_schema=str(CHART))  # raises on any violation
    assert _problems(tmp_path, HEAD + TYPO, CHART) == [
        "tenants.yaml:10:13: tenants[0].vcluster.values.sync.toHost.ingress: Helm values "
        "sync.toHost.ingress: unknown key 'ingress' (additionalProperties is false); the "
        "chart's values schema refuses it (schema path "
        "properties/sync/properties/toHost/additionalProperties)"
    ]


V2 = """\
version: 2
clusters:
  - name: eu-1
    pool: [10.10.0.0/24]
  - name: us-1
    pool: [10.20.0.0/24]
    defaults:
      ingress:
        listenerHostnames: ["*.us.example.com"]
tenants:
  - name: shop
    cluster: eu-1
    ip: 10.10.0.10
    vcluster:
      values:
        controlPlane: {distro: {k3s: {enabled: true}}}
  - name: blog
    cluster: us-1
    ip: 10.20.0.10
    hostname: blog.eu.example.com
"""


def test_version_2_listener_hostnames_per_cluster(tmp_path: Path) -> None:
    """A cluster's own listenerHostnames apply to its tenants."""
    assert _problems(tmp_path, V2, None) == [
        "tenants.yaml:20:15: tenants[1].hostname: hostname 'blog.eu.example.com' matches "
        "no listener hostname of the Gateway (*.us.example.com): its HTTPRoute would not be "
        "accepted (NoMatchingListenerHostname); list the Gateway's listener hostnames in "
        "defaults.ingress.listenerHostnames"
    ]


def test_version_2_renders_k8s_so_k3s_beside_it_is_two_distros(tmp_path: Path) -> None:
    text = V2.replace("blog.eu.example.com", "blog.us.example.com")
    assert _problems(tmp_path, text, None) == [
        "tenants.yaml:16:39: tenants[0].vcluster.values.controlPlane.distro.k3s.enabled: "
        "controlPlane.distro enables k8s, k3s: the chart fails with 'you can only enable one "
        "distro at the same time'; set controlPlane.distro.k8s.enabled: false (or null) "
        "beside it"
    ]
