"""proto = "tcp": a SYN to the target's port; reached when it answers SYN-ACK (open).
A RST (closed) or silence (filtered) is not reached. `state` names which: "filtered" is
also an ICMP error (a reject rule, no route), as nmap counts it."""

from __future__ import annotations

from netlab.probes.kinds import ports
from netlab.probes.kinds.base import ExpectKind

KIND = ExpectKind(
    name="tcp",
    description="TCP SYN: the port answers SYN-ACK",
    port=True,
    target=True,
    run=ports.runner("tcp"),
    matches=ports.matcher("tcp"),
    answered=frozenset({"open", "closed"}),
    states={"open": frozenset({"open"}), "closed": frozenset({"closed"}),
            "filtered": frozenset({"filtered", "unreachable"})},
)
