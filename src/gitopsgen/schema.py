"""The JSON Schema of tenants.yaml, generated from the pydantic models."""

from __future__ import annotations

import json
from typing import Any

from gitopsgen.model import Config


def json_schema() -> dict[str, Any]:
    schema = Config.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=False) + "\n"
