"""Compiling topology text in tests, without files."""

from __future__ import annotations

import textwrap

import pytest

from netlab.compile.compiler import Compiled, compile_topology
from netlab.errors import Problem, TopologyError
from netlab.plan.model import Plan
from netlab.topology.loader import parse


def compile_text(text: str) -> Compiled:
    text = textwrap.dedent(text)
    return compile_topology(parse(text, "t.toml"), "t.toml")


def plan(text: str) -> Plan:
    return compile_text(text).plan


def problems(text: str) -> list[Problem]:
    """The problems a topology is rejected with (fails if it is accepted)."""
    with pytest.raises(TopologyError) as info:
        compile_text(text)
    return info.value.problems


def addrs(p: Plan) -> dict[str, list[str]]:
    """'node:ifname' -> its addresses."""
    return {f"{n.name}:{i.name}": i.addresses for n in p.nodes for i in n.interfaces}


def routes(p: Plan, node: str) -> set[tuple[str, str | None, str | None, str]]:
    return {(r.to, r.via, r.dev, r.origin) for r in p.node(node).routes}
