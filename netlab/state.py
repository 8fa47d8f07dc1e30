"""Where deployed labs are recorded: /run/netlab/<lab>/.

Later verbs (status, exec, probes, destroy) read the saved plan from here, never the
topology file, so they work when the file has changed or is gone.
"""

from __future__ import annotations

import os
from pathlib import Path

from netlab.errors import NetlabError, UsageError
from netlab.plan import Plan

RUN_DIR = Path(os.environ.get("NETLAB_RUN_DIR", "/run/netlab"))
PLAN_FILE = "plan.json"


class LabNotFound(NetlabError):
    exit_code = 2


def lab_dir(name: str) -> Path:
    return RUN_DIR / name


def list_labs() -> list[str]:
    """Names of labs with a state directory, sorted."""
    try:
        return sorted(p.name for p in RUN_DIR.iterdir() if (p / PLAN_FILE).is_file())
    except FileNotFoundError:
        return []


def read_plan(name: str) -> Plan:
    path = lab_dir(name) / PLAN_FILE
    try:
        return Plan.from_json(path.read_text())
    except FileNotFoundError:
        raise LabNotFound(_not_deployed(name)) from None


def resolve_lab(name: str | None) -> str:
    """The lab a verb acts on: the one given, or the only one deployed."""
    labs = list_labs()
    if name is not None:
        if name not in labs:
            raise LabNotFound(_not_deployed(name))
        return name
    if len(labs) == 1:
        return labs[0]
    if not labs:
        raise UsageError("no lab is deployed (deploy one with `netlab deploy FILE`)")
    raise UsageError("several labs are deployed; pick one with --lab: " + ", ".join(labs))


def _not_deployed(name: str) -> str:
    labs = list_labs()
    listing = ", ".join(labs) if labs else "none"
    return f"lab {name!r} is not deployed (deployed labs: {listing})"
