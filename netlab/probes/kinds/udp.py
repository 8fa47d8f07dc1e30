"""proto = "udp": one datagram to the target's port; reached when a UDP reply comes back.
Port unreachable (closed) or silence (no-answer) is not reached; `state` names which
(silence is also a filtered port: UDP cannot tell them apart)."""

from __future__ import annotations

from netlab.probes.kinds import ports
from netlab.probes.kinds.base import ExpectKind

KIND = ExpectKind(
    name="udp",
    description="UDP datagram: the port replies",
    port=True,
    target=True,
    run=ports.runner("udp"),
    matches=ports.matcher("udp"),
    answered=frozenset({"reply", "closed"}),
    states={"reply": frozenset({"reply"}), "closed": frozenset({"closed"}),
            "no-answer": frozenset({"no-answer"})},
)
