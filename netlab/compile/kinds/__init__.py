"""The node kind registry: `kind = "..."` in a topology file names one of these.

Adding a kind: a module beside host.py defining `KIND = NodeKind(...)` (netlab/compile/
kinds/base.py says what each answer does: forwarding, sysctls, addressing
order, routing role, files and processes), and one line in KINDS below. The topology
model validates `kind` against KINDS and the JSON Schema lists its names.
"""

from __future__ import annotations

from netlab.compile.kinds import host, router
from netlab.compile.kinds.base import NodeKind, NodeView

# Registration: one line per kind. The first is the default kind of a node.
KINDS: dict[str, NodeKind] = {
    host.KIND.name: host.KIND,
    router.KIND.name: router.KIND,
}
DEFAULT = host.KIND.name


def get(name: str) -> NodeKind:
    """The kind of that name (the model has checked that it is registered)."""
    return KINDS[name]


def names() -> list[str]:
    return list(KINDS)


__all__ = ["DEFAULT", "KINDS", "NodeKind", "NodeView", "get", "names"]
