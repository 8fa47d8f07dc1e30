"""Shared by the FRR protocol kinds (ospf.py, bgp.py): run `vtysh -c '<show> json'` in the
node as the command kind runs its commands (the lab's backend, no shell), and read the JSON.

The shapes read are FRR 8.4's (`show ip ospf neighbor json`, `show bgp summary json`),
with the field names older releases used as fallbacks."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from netlab.probes.kinds.base import Attempt

LIMIT = 5.0  # seconds: vtysh connects to the daemons, more than a probe's timeout


class FrrError(Exception):
    """vtysh could not answer: the message says why, for the check table."""


def vtysh_json(a: Attempt, show: str) -> Any:
    from netlab import backends

    plan = a.plan
    argv = ["vtysh", "-c", show]
    try:
        proc = backends.for_plan(plan).run(plan, plan.node(a.expect.from_node), argv,
                                           capture_output=True, text=True,
                                           timeout=max(LIMIT, a.expect.timeout),
                                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise FrrError(f"vtysh still running after {max(LIMIT, a.expect.timeout):g} s") \
            from None
    except OSError as ex:
        raise FrrError(f"cannot run vtysh: {ex.strerror or ex} (is FRR installed?)") from None
    if proc.returncode != 0:
        why = " ".join((proc.stderr or proc.stdout or "").split())[:160]
        raise FrrError(f"vtysh -c {show!r}: exit {proc.returncode}" + (f": {why}" if why
                                                                       else ""))
    try:
        return json.loads(proc.stdout or "{}")
    except ValueError:
        raise FrrError(f"vtysh -c {show!r} printed no JSON: "
                       f"{' '.join(proc.stdout.split())[:160]!r}") from None


def peer_addresses(a: Attempt, name: str) -> set[str]:
    """The addresses node `name` holds (without lengths; its loopbacks too: one is its
    router id), or {name} for an address."""
    try:
        node = a.plan.node(name)
    except KeyError:
        return {name}
    return {x.split("/")[0] for i in node.interfaces for x in i.addresses} | {
        x.split("/")[0] for x in node.loopback}
