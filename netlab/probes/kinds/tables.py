"""What the route and address kinds share: a node's tables as the kernel's own `ip -j`
prints them, run in the node by the lab's backend (Backend.run, as `netlab exec` runs
it): the kernel's view, read by its reference tool, through any backend."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from netlab.probes.kinds.base import Attempt


class TableError(Exception):
    """`ip` could not show the table (a missing namespace, no `ip` in the node)."""


def ip_json(a: Attempt, args: list[str]) -> list[dict[str, Any]]:
    """`ip -j ARGS` in the expectation's node, parsed."""
    from netlab import backends

    plan = a.plan
    try:
        proc = backends.for_plan(plan).run(
            plan, plan.node(a.expect.from_node), ["ip", "-j", *args],
            capture_output=True, text=True, timeout=max(2.0, a.expect.timeout * 2))
    except (OSError, subprocess.TimeoutExpired) as e:
        raise TableError(f"ip {' '.join(args)}: {e}") from None
    if proc.returncode != 0:
        raise TableError(f"ip {' '.join(args)}: " + (proc.stderr.strip()
                                                     or f"exit {proc.returncode}"))
    out = json.loads(proc.stdout or "[]")
    return out if isinstance(out, list) else []
