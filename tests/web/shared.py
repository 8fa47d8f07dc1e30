"""What several web tests share: a small routed chain (a - r - b, two expectations) and
the view's id of a wire."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netlab.plan.model import Plan

CHAIN_LAB = """
[lab]
name = "{name}"
[nodes.a]
[nodes.r]
kind = "router"
[nodes.b]
[[links]]
endpoints = ["a", "r"]
[[links]]
endpoints = ["r", "b"]
[[expect]]
from = "a"
to = "b"
[[expect]]
from = "a"
to = "b"
proto = "tcp"
port = 9
"""


def edge_of(lab: Plan, a: str, b: str) -> str:
    """The web view's id of the wire between nodes a and b."""
    from netlab.plan import wires
    from netlab.web.view import edge_id

    return edge_id(wires.find(lab, a, b).index)
