"""kind = "host": an end system; never forwards, takes its segment's router as gateway."""

from __future__ import annotations

from netlab.compile.kinds.base import NodeKind

KIND = NodeKind(
    name="host",
    description="an end system (no forwarding)",
    forwards=False,
    address_rank=1,
    routes=False,
    takes_default_gateway=True,
)
