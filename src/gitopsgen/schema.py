"""The JSON Schema of tenants.yaml (both versions), generated from the pydantic models."""

from __future__ import annotations

import json
from typing import Any

from pydantic.json_schema import models_json_schema

from gitopsgen.model import Config, ConfigV2


def json_schema() -> dict[str, Any]:
    refs, defs = models_json_schema(
        [(Config, "validation"), (ConfigV2, "validation")], by_alias=True
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "gitopsgen tenants.yaml",
        "description": "version 1 (SPEC.md: the seed's single host cluster) or version 2 "
        "(SPEC-v2.md: several host clusters, Flux shards)",
        "oneOf": [refs[(Config, "validation")], refs[(ConfigV2, "validation")]],
        **defs,
    }


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=False) + "\n"
