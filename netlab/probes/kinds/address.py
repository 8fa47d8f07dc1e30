"""address = {dev, ip, mac}: an interface of the node holds that address (with that
prefix length, when one was given) and/or has that MAC address, as the kernel has it."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from netlab.probes.kinds.base import Attempt, ExpectKind, Outcome
from netlab.probes.kinds.tables import TableError, ip_json

if TYPE_CHECKING:
    from netlab.plan.model import ExpectPlan


def run(a: Attempt) -> Outcome:
    want = a.expect.address
    assert want is not None
    try:
        links = ip_json(a, ["address", "show", "dev", want.dev])
    except TableError as e:
        return Outcome(False, f"error: {e}")
    if not links:
        return Outcome(False, f"no interface {want.dev}")
    link = links[0]
    held = [f"{x['local']}/{x['prefixlen']}" for x in link.get("addr_info", [])
            if x.get("local") and not str(x["local"]).startswith("fe80:")]
    mac = str(link.get("address", "")).lower()
    seen = f"{want.dev} has " + (", ".join(held) or "no address") + (
        f", mac {mac}" if want.mac else "")
    ok = want.mac is None or mac == want.mac
    if want.ip is not None:
        if "/" in want.ip:
            ok &= any(ipaddress.ip_interface(h) == ipaddress.ip_interface(want.ip) for h in held)
        else:
            ok &= any(ipaddress.ip_interface(h).ip == ipaddress.ip_address(want.ip)
                      for h in held)
    return Outcome(ok, seen)


def label(e: ExpectPlan) -> str:
    w = e.address
    assert w is not None
    return f"address {w.dev}" + (f" {w.ip}" if w.ip else "") + (f" mac {w.mac}" if w.mac else "")


KIND = ExpectKind(
    name="address",
    description="an address (or MAC) on an interface of the node",
    port=False,
    target=False,
    run=run,
    selects=lambda e: e.address is not None,
    names=label,
    verdicts=("held", "not held"),
)
