"""JSON Schema of the topology format, derived from the model."""

from __future__ import annotations

from typing import Any

from netlab.model import TopologyFile

SCHEMA_ID = "https://netlab.invalid/schema/topology-1.json"


def json_schema() -> dict[str, Any]:
    schema = TopologyFile.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            **schema}
