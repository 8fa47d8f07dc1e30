"""bgp = {peer, state}: the node's BGP (FRR's bgpd) has a session with that peer in that
state ("Established" by default), read from `vtysh -c 'show bgp summary json'` (every
address family's peers). The peer is a node of the lab (matched by the peer's address
against the node's addresses, or by the hostname FRR learnt from it) or an address."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from netlab.probes.kinds.base import Attempt, ExpectKind, Outcome
from netlab.probes.kinds.frr import FrrError, peer_addresses, vtysh_json

if TYPE_CHECKING:
    from netlab.plan.model import ExpectPlan

SHOW = "show bgp summary json"


def peers(data: Any) -> list[tuple[str, str, str, str]]:
    """(address family, peer, hostname, state) of each peer in FRR's JSON: one object per
    family ("ipv4Unicast", ...), each with "peers" keyed by address (or interface)."""
    out = []
    for family, body in data.items():
        if not isinstance(body, dict):
            continue
        for peer, x in (body.get("peers") or {}).items():
            out.append((family, str(peer), str(x.get("hostname") or ""),
                        str(x.get("state") or "?")))
    return out


def run(a: Attempt) -> Outcome:
    b = a.expect.bgp
    assert b is not None
    try:
        found = peers(vtysh_json(a, SHOW))
    except FrrError as ex:
        return Outcome(False, str(ex))
    except AttributeError:
        return Outcome(False, f"vtysh -c {SHOW!r}: not the JSON FRR writes")
    want = peer_addresses(a, b.peer)
    mine = [x for x in found if x[1] in want or x[2] == b.peer]
    if not mine:
        have = ", ".join(sorted({f"{p} ({s})" for _, p, _, s in found})) or "none"
        return Outcome(False, f"no BGP peer {b.peer} (peers: {have})")
    good = [x for x in mine if x[3].lower() == b.state.lower()]
    family, peer, _, state = (good or mine)[0]
    return Outcome(bool(good), f"peer {peer} ({family}): {state}")


def label(e: ExpectPlan) -> str:
    assert e.bgp is not None
    return f"bgp peer {e.bgp.peer} {e.bgp.state}"


KIND = ExpectKind(
    name="bgp",
    description="FRR: a BGP session in a state (vtysh JSON)",
    port=False,
    target=False,
    run=run,
    selects=lambda e: e.bgp is not None,
    names=label,
    verdicts=("as expected", "not as expected"),
)
