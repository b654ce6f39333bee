"""Check each tenant's final Helm values the way the vcluster chart will.

``helm install`` refuses values that do not meet the chart's ``values.schema.json``
(JSON Schema 2020-12, ``additionalProperties: false`` almost everywhere: a typo'd key
is an error) and the chart itself fails when more than one distro is enabled
(loft-sh/vcluster v0.30 chart/templates/_distro.tpl: "you can only enable one distro
at the same time"). Both surface only when Flux installs the release; here they are
located problems of tenants.yaml:

- the distro rule always runs;
- the schema runs when ``defaults.vcluster.valuesSchema`` (a path relative to
  tenants.yaml) or ``--values-schema`` names one.

Each violation is reported at the key of the tenant's ``vcluster.values`` that
introduced it, else at the key of ``defaults.vcluster.values``, else (the generated
values are at fault) at the tenant, with the value path and the schema path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gitopsgen.errors import Problem
from gitopsgen.model import AnyConfig, ConfigV2
from gitopsgen.reader import Document
from gitopsgen.reader import Path as Loc

__all__ = ["DISTROS", "load_schema", "values_problems"]

# The distros of the chart's controlPlane.distro (values.schema.json $defs/Distro).
DISTROS = ("k3s", "k8s", "k0s", "eks")


def load_schema(path: Path, doc: Document, loc: Loc) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The JSON Schema at ``path``; a problem located at ``loc`` when it cannot be read."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return None, [doc.problem(loc, f"cannot read the values schema {path}: {exc.strerror}")]
    except ValueError as exc:
        return None, [doc.problem(loc, f"the values schema {path} is not JSON: {exc}")]
    if not isinstance(schema, dict):
        return None, [doc.problem(loc, f"the values schema {path} is not a JSON Schema object")]
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return None, [doc.problem(loc, f"the values schema {path} is not valid: {exc.message}")]
    return schema, []


def _format(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(the values)"


def _origin(doc: Document, index: int, path: tuple[Any, ...]) -> tuple[Loc, bool] | None:
    """Where in tenants.yaml ``path`` of tenant ``index``'s values was written: the
    deepest key of it that the tenant's values or the defaults' values hold (the
    tenant's on a tie: they are merged last)."""
    best: tuple[int, Loc] | None = None
    for base in (("tenants", index, "vcluster", "values"), ("defaults", "vcluster", "values")):
        if base not in doc.values:
            continue
        for depth in range(len(path), 0, -1):
            loc = (*base, *path[:depth])
            if loc in doc.keys:
                if best is None or depth > best[0]:
                    best = (depth, loc)
                break
    return (best[1], True) if best is not None else None


def _extra_keys(error: Any) -> list[str]:
    """The keys an ``additionalProperties: false`` error is about."""
    instance, schema = error.instance, error.schema
    if error.validator != "additionalProperties" or not isinstance(instance, dict):
        return []
    props = schema.get("properties", {}) if isinstance(schema, dict) else {}
    patterns = schema.get("patternProperties", {}) if isinstance(schema, dict) else {}
    return [k for k in instance if k not in props and not any(re.search(p, k) for p in patterns)]


def values_problems(
    config: AnyConfig,
    doc: Document,
    schema: dict[str, Any] | None,
    *,
    distros: bool = True,
    flux_root: str = "./generated",
) -> Iterator[Problem]:
    """Located problems of every tenant's final values: more than one distro (unless
    ``distros`` is false) and, with ``schema``, every violation of it."""
    from gitopsgen.platform import resolve
    from gitopsgen.render.base import Context
    from gitopsgen.render.vcluster import fleet_values, helm_values

    validator = None
    if schema is not None:
        from jsonschema import Draft202012Validator

        validator = Draft202012Validator(schema)
    if (
        validator is None
        and not any(t.vcluster.values for t in config.tenants)
        and not _any_default_values(config)
    ):
        return  # the generated values enable one distro alone
    platform = resolve(config, flux_root)
    ctx = Context(platform)
    render = fleet_values if isinstance(config, ConfigV2) else helm_values
    specs: list[Any] = list(config.tenants)
    index_of = {t.name: i for i, t in enumerate(specs)}
    for tenant in platform.tenants():
        index = index_of[tenant.name]
        if validator is None and not tenant.defaults.vcluster.values and not tenant.vcluster.values:
            continue
        values = render(ctx, tenant)
        if distros:
            yield from _distros(doc, index, values)
        if validator is None:
            continue
        for error in validator.iter_errors(values):
            path = tuple(error.absolute_path)
            schema_path = "/".join(str(p) for p in error.absolute_schema_path)
            extras = _extra_keys(error)
            targets = [(*path, k) for k in extras] or [path]
            for target in targets:
                origin = _origin(doc, index, target)
                shown = _format(target)
                if extras:
                    what = f"unknown key {target[-1]!r} (additionalProperties is false)"
                else:
                    what = error.message
                    if len(what) > 200:
                        what = what[:197] + "..."
                message = (
                    f"Helm values {shown}: {what}; the chart's values schema refuses it "
                    f"(schema path {schema_path})"
                )
                if origin is None:
                    message = f"the generated values of tenant {tenant.name}: " + message
                    yield doc.problem(("tenants", index, "name"), message)
                else:
                    yield doc.problem(origin[0], message, key=True)


def _any_default_values(config: AnyConfig) -> bool:
    if config.defaults.vcluster.values:
        return True
    if isinstance(config, ConfigV2):
        return any(c.defaults for c in config.clusters)
    return False


def _distros(doc: Document, index: int, values: dict[str, Any]) -> Iterator[Problem]:
    distro = values.get("controlPlane", {}).get("distro", {})
    if not isinstance(distro, dict):
        return
    enabled = [
        name for name, spec in distro.items() if isinstance(spec, dict) and spec.get("enabled")
    ]
    if len(enabled) < 2:
        return
    # Located at the first enabled distro that tenants.yaml sets (not the generated k3s).
    loc: Loc = ("tenants", index, "name")
    origins = [
        (name, _origin(doc, index, ("controlPlane", "distro", name, "enabled"))) for name in enabled
    ]
    written = [o[0] for name, o in origins if o is not None and o[0][-2:] == (name, "enabled")]
    nearest = [o[0] for _, o in origins if o is not None]
    if written or nearest:
        loc = (written or nearest)[0]
    yield doc.problem(
        loc,
        f"controlPlane.distro enables {', '.join(enabled)}: the chart fails with 'you can "
        "only enable one distro at the same time'; set "
        f"controlPlane.distro.{enabled[0]}.enabled: false (or null) beside it",
        key=True,
    )
