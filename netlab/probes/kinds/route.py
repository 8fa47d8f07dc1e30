"""route = {to, via, dev}: the node has a route to exactly that destination in its main
table (optionally through that next hop / out of that interface), as the kernel has it."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from netlab.probes.kinds.base import Attempt, ExpectKind, Outcome
from netlab.probes.kinds.tables import TableError, ip_json

if TYPE_CHECKING:
    from netlab.plan.model import ExpectPlan

SHOWN = 6  # routes listed when the one asked for is missing


def run(a: Attempt) -> Outcome:
    r = a.expect.route
    assert r is not None
    v6 = r.to == "default6" or (r.to != "default" and ":" in r.to)
    try:
        raw = ip_json(a, ["-6" if v6 else "-4", "route", "show", "table", "main"])
    except TableError as e:
        return Outcome(False, f"error: {e}")
    routes = [_route(x) for x in raw]
    routes = [x for x in routes if not x[0].startswith("fe80:")]
    mine = [x for x in routes if x[0] == r.to]
    if not mine:
        have = ", ".join(_text(x) for x in routes[:SHOWN]) + (
            ", ..." if len(routes) > SHOWN else "")
        return Outcome(False, f"no route to {r.to} (has: {have or 'no routes'})")
    good = [x for x in mine if (r.via is None or r.via in x[1])
            and (r.dev is None or r.dev in x[2])]
    if good:
        return Outcome(True, _text(good[0]))
    return Outcome(False, ", ".join(_text(x) for x in mine) + ", not"
                   + (f" via {r.via}" if r.via else "") + (f" dev {r.dev}" if r.dev else ""))


def _route(x: dict[str, Any]) -> tuple[str, tuple[str, ...], tuple[str, ...], str]:
    """(to, gateways, devices, type) of one `ip -j route` entry; to as the plan says it."""
    dst = str(x.get("dst", ""))
    family6 = ":" in dst or ":" in str(x.get("gateway", "")) or any(
        ":" in str(h.get("gateway", "")) for h in x.get("nexthops", []))
    if dst == "default":
        to = "default6" if family6 else "default"
    else:
        try:
            to = str(ipaddress.ip_network(dst, strict=False))
        except ValueError:
            to = dst
    hops = x.get("nexthops") or [x]
    vias = tuple(str(h["gateway"]) for h in hops if h.get("gateway"))
    devs = tuple(str(h["dev"]) for h in hops if h.get("dev"))
    return to, vias, devs, str(x.get("type", "unicast"))


def _text(x: tuple[str, tuple[str, ...], tuple[str, ...], str]) -> str:
    to, vias, devs, kind = x
    return ("" if kind == "unicast" else f"{kind} ") + to + "".join(
        f" via {v}" for v in vias) + "".join(f" dev {d}" for d in devs)


def label(e: ExpectPlan) -> str:
    r = e.route
    assert r is not None
    return f"route {r.to}" + (f" via {r.via}" if r.via else "") + (
        f" dev {r.dev}" if r.dev else "")


KIND = ExpectKind(
    name="route",
    description="a route in the node's main table (destination, next hop, interface)",
    port=False,
    target=False,
    run=run,
    selects=lambda e: e.route is not None,
    names=label,
    verdicts=("present", "absent"),
)
