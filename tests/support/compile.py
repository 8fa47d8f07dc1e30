"""Compiling topologies in tests, without deploying: from text (no file), and a file or
text renamed to a lab of this run (plan_from)."""

from __future__ import annotations

import textwrap
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from netlab.compile.compiler import Compiled, compile_topology
from netlab.errors import Problem, TopologyError
from netlab.plan.model import Plan
from netlab.topology.loader import parse
from netlab.topology.model import TopologyFile
from tests.support.names import is_ours, renamed_doc, run_prefix


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


def plan_from(source: Path | str, name: str, edit: Callable[[dict[str, Any]], None] | None = None,
              ) -> Plan:
    """Compile a topology file (or TOML text) renamed to lab `name` (prefix = name), made
    this run's own: "t3exec" -> "t3<token>exec" (cut to 12), so that two runs at once
    never deploy the same lab. A name that is already this run's (unique_name("t") may
    start with "t3" too) is kept: the lab a test deploys by that name must be the one its
    fixture destroys."""
    if name.startswith("t3") and not is_ours(name):
        name = (run_prefix("t3") + name[2:])[:12]
    if isinstance(source, Path):
        raw = tomllib.loads(source.read_text())
        where = str(source)
    else:
        raw = tomllib.loads(source)
        where = f"<{name}>"
    renamed_doc(raw, name)
    if edit is not None:
        edit(raw)
    return compile_topology(TopologyFile.model_validate(raw), where).plan
