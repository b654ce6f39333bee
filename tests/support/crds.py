"""Validate Flux, Flux Operator and Gateway API objects against their CRD schemas.

The schemas are the openAPIV3Schema of each CRD, as JSON, in
``../shared/reference/crds/<group>_<version>_<Kind>.json``. They are not copied
into this repository: tests that use them skip, with that reason, when the
directory is absent. Validation is strict: every object schema that lists its
properties rejects any other (``additionalProperties: false``), as the API server
prunes or, with ``kubectl --validate=strict``, rejects unknown fields.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

CRDS = Path(__file__).resolve().parents[3] / "shared" / "reference" / "crds"
SKIP_REASON = f"the CRD schemas are not here ({CRDS}): they come with ../shared/"


def require_crds() -> None:
    if not CRDS.is_dir():
        pytest.skip(SKIP_REASON)


def _strict(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if out.get("type") == "object" and "properties" in out:
            out.setdefault("additionalProperties", False)
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@cache
def validator(api_version: str, kind: str) -> jsonschema.Draft202012Validator | None:
    """The strict validator of ``kind`` in ``api_version``, or None when no CRD
    schema of it is here (a core kind)."""
    group, _, version = api_version.rpartition("/")
    path = CRDS / f"{group}_{version}_{kind}.json"
    if not path.is_file():
        return None
    schema = _strict(json.loads(path.read_text()))
    # metadata is an ObjectMeta the CRD schema leaves open (type: object).
    schema = copy.deepcopy(schema)
    schema.setdefault("properties", {})["metadata"] = {"type": "object"}
    return jsonschema.Draft202012Validator(schema)


def crd_errors(obj: dict[str, Any]) -> list[str] | None:
    """Violations of ``obj`` against its CRD schema; None when it has none here."""
    v = validator(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
    if v is None:
        return None
    return [f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in v.iter_errors(obj)]
