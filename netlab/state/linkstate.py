"""Runtime link changes (`netlab link`), recorded in the lab's state directory.

links.json maps "netns:ifname" of a veth end to what was changed since deploy:
{"shaping": {...} | null, "down": true|false}. status reads it to tell planned from
changed; the plan itself (plan.json) is never rewritten.
"""

from __future__ import annotations

import json
import os
from typing import Any

from netlab.plan.model import Plan, ShapingPlan, VethEnd
from netlab.state import store

LINKS_FILE = "links.json"


def key(end: VethEnd) -> str:
    return f"{end.netns}:{end.ifname}"


def load(lab: str) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads((store.lab_dir(lab) / LINKS_FILE).read_text())
    except FileNotFoundError:
        return {}
    return data if isinstance(data, dict) else {}


def _save(lab: str, data: dict[str, dict[str, Any]]) -> None:
    path = store.lab_dir(lab) / LINKS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)  # atomic: a reader sees the old or the new record, never half


def record(lab: str, end: VethEnd, **changes: Any) -> None:
    """Remember a change of one end: shaping=ShapingPlan|None and/or down=bool."""
    data = load(lab)
    entry = data.setdefault(key(end), {})
    for k, v in changes.items():
        entry[k] = v.model_dump() if isinstance(v, ShapingPlan) else v
    _save(lab, data)


def shaping(lab: str, end: VethEnd) -> ShapingPlan | None:
    """The end's current shaping: the last runtime change, else the plan's."""
    entry = load(lab).get(key(end), {})
    if "shaping" in entry:
        raw = entry["shaping"]
        return None if raw is None else ShapingPlan.model_validate(raw)
    return end.shaping


def is_down(lab: str, end: VethEnd) -> bool:
    return bool(load(lab).get(key(end), {}).get("down", False))


def changed(plan: Plan) -> dict[str, dict[str, Any]]:
    """Every recorded change of a deployed lab (for status)."""
    return load(plan.lab)
