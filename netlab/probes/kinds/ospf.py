"""ospf = {neighbor, state}: the node's OSPF (FRR's ospfd) has that neighbour in that
state ("Full" by default; "Full/DR" and the like count as Full), read from
`vtysh -c 'show ip ospf neighbor json'`. The neighbour is a node of the lab (matched by its
router id or interface address against the node's addresses) or a router id."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from netlab.probes.kinds.base import Attempt, ExpectKind, Outcome
from netlab.probes.kinds.frr import FrrError, peer_addresses, vtysh_json

if TYPE_CHECKING:
    from netlab.plan.model import ExpectPlan

SHOW = "show ip ospf neighbor json"


def neighbors(data: Any) -> list[tuple[str, str, str]]:
    """(router id, interface address, state) of each neighbour in FRR's JSON: 8.4 writes
    nbrState/ifaceAddress, older releases state/address; a router id maps to a list
    (one entry per interface) or, before 7.5, to one object."""
    out = []
    for rid, entries in (data.get("neighbors") or {}).items():
        for x in entries if isinstance(entries, list) else [entries]:
            state = str(x.get("nbrState") or x.get("state") or "?")
            addr = str(x.get("ifaceAddress") or x.get("address") or "")
            out.append((str(rid), addr, state))
    return out


def run(a: Attempt) -> Outcome:
    o = a.expect.ospf
    assert o is not None
    try:
        found = neighbors(vtysh_json(a, SHOW))
    except FrrError as ex:
        return Outcome(False, str(ex))
    except AttributeError:
        return Outcome(False, f"vtysh -c {SHOW!r}: not the JSON FRR writes")
    want = peer_addresses(a, o.neighbor)
    mine = [x for x in found if x[0] in want or x[1] in want]
    if not mine:
        have = ", ".join(f"{r} ({s})" for r, _, s in found) or "none"
        return Outcome(False, f"no OSPF neighbour {o.neighbor} (neighbours: {have})")
    rid, addr, state = mine[0]
    ok = state.split("/")[0].lower() == o.state.lower()
    return Outcome(ok, f"neighbour {rid} via {addr or '?'}: {state}")


def label(e: ExpectPlan) -> str:
    assert e.ospf is not None
    return f"ospf neighbor {e.ospf.neighbor} {e.ospf.state}"


KIND = ExpectKind(
    name="ospf",
    description="FRR: an OSPF neighbour in a state (vtysh JSON)",
    port=False,
    target=False,
    run=run,
    selects=lambda e: e.ospf is not None,
    names=label,
    verdicts=("as expected", "not as expected"),
)
