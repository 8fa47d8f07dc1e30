"""neighbor = {ip, mac, dev}: the node has a resolved neighbour entry (ARP for IPv4, NDP
for IPv6) for that address, with that MAC / on that interface if given, as the kernel has
it (`ip -j neigh` in the node). An entry still being resolved or failed does not count."""

from __future__ import annotations

from typing import TYPE_CHECKING

from netlab.probes.kinds.base import Attempt, ExpectKind, Outcome
from netlab.probes.kinds.tables import TableError, ip_json

if TYPE_CHECKING:
    from netlab.plan.model import ExpectPlan

UNRESOLVED = {"INCOMPLETE", "FAILED", "NONE"}


def run(a: Attempt) -> Outcome:
    n = a.expect.neighbor
    assert n is not None
    try:
        entries = ip_json(a, ["neigh", "show", "to", n.ip])
    except TableError as e:
        return Outcome(False, f"error: {e}")
    entries = [x for x in entries if x.get("dst") == n.ip]
    if not entries:
        return Outcome(False, f"no neighbour entry for {n.ip}")
    texts = []
    ok = False
    for x in entries:
        states = set(x.get("state", []))
        mac = str(x.get("lladdr", "")).lower()
        texts.append(f"{n.ip} dev {x.get('dev')}" + (f" lladdr {mac}" if mac else "")
                     + " " + "/".join(sorted(states)))
        ok |= (not states & UNRESOLVED and bool(mac) and (n.mac is None or mac == n.mac)
               and (n.dev is None or x.get("dev") == n.dev))
    return Outcome(ok, ", ".join(texts))


def label(e: ExpectPlan) -> str:
    n = e.neighbor
    assert n is not None
    return f"neighbor {n.ip}" + (f" lladdr {n.mac}" if n.mac else "") + (
        f" dev {n.dev}" if n.dev else "")


KIND = ExpectKind(
    name="neighbor",
    description="a resolved ARP/NDP entry in the node (address, MAC, interface)",
    port=False,
    target=False,
    run=run,
    selects=lambda e: e.neighbor is not None,
    names=label,
    verdicts=("resolved", "not resolved"),
)
