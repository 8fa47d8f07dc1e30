"""JSON Schema of the topology format, derived from the model.

Editors (taplo / Even Better TOML) use it to complete and check topology files. TOML has
no null, so the "or null" branches pydantic emits for optional keys are removed: an
optional key is simply left out.
"""

from __future__ import annotations

from typing import Any

from netlab.topology.model import TopologyFile

SCHEMA_ID = "https://netlab.invalid/schema/topology-1.json"


def _drop_null(node: Any) -> Any:
    if isinstance(node, list):
        return [_drop_null(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _drop_null(v) for k, v in node.items()}
    if "anyOf" in out:
        branches = [b for b in out["anyOf"] if b != {"type": "null"}]
        if len(branches) != len(out["anyOf"]):
            if out.get("default", 0) is None:
                del out["default"]
            del out["anyOf"]
            if len(branches) == 1:
                out = {**branches[0], **out}
            else:
                out["anyOf"] = branches
    return out


def json_schema() -> dict[str, Any]:
    schema = _drop_null(TopologyFile.model_json_schema(by_alias=True))
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            **schema}
