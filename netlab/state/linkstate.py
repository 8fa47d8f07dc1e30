"""Runtime link changes (`netlab link`), recorded in the lab's state directory.

links.json maps "netns:ifname" of a veth end to what was changed since deploy:
{"shaping": {...} | null, "down": true|false}. status reads it to tell planned from
changed; the plan itself (plan.json) is never rewritten.
"""

from __future__ import annotations

import json
import os
from typing import Any

from netlab.plan.model import ShapingPlan, VethEnd
from netlab.state.layout import lab_dir, read_state_file

LINKS_FILE = "links.json"


def key(end: VethEnd) -> str:
    return f"{end.netns}:{end.ifname}"


def load(lab: str) -> dict[str, dict[str, Any]]:
    """The recorded changes; read like all state (never through a symlink, never a FIFO),
    and a damaged file counts as no changes (status then compares with the plan)."""
    text = read_state_file(lab_dir(lab) / LINKS_FILE)
    try:
        data = json.loads(text) if text is not None else {}
    except (ValueError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)}


def _save(lab: str, data: dict[str, dict[str, Any]]) -> None:
    path = lab_dir(lab) / LINKS_FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW,
                 0o600)
    with open(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
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
