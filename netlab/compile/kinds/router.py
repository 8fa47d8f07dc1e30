"""kind = "router": forwards IPv4 and IPv6; gateway of its segments, transit in auto routing."""

from __future__ import annotations

from netlab.compile.kinds.base import NodeKind

KIND = NodeKind(
    name="router",
    description="forwards IPv4 and IPv6",
    forwards=True,
    address_rank=0,  # routers take a switch subnet's first addresses (.1, .2, ...)
    routes=True,
    takes_default_gateway=False,
)
