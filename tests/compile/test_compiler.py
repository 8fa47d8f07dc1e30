"""The compile driver (netlab/compile/compiler.py): an explicit, ordered list of passes."""

from __future__ import annotations

import pytest

from netlab.compile import compiler
from netlab.compile.compiler import PASSES, compile_topology
from netlab.errors import TopologyError
from netlab.topology.loader import parse


def test_the_pipeline_is_a_visible_ordered_list() -> None:
    assert [name for name, _ in PASSES] == [
        "lab", "graph", "addressing", "routing", "nodes", "mtu", "link properties",
        "link kinds", "node plans", "machines", "routing protocols", "expectations",
        "stop on errors", "wiring", "annotate", "plan",
    ]


def test_every_pass_runs_once_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []
    spied = [(name, lambda b, name=name, step=step: (ran.append(name), step(b)))
             for name, step in PASSES]
    monkeypatch.setattr(compiler, "PASSES", spied)
    text = '[lab]\nname = "tpass"\n[nodes.a]\n[nodes.b]\n[[links]]\nendpoints = ["a", "b"]\n'
    plan = compile_topology(parse(text, "t.toml"), "t.toml").plan
    assert ran == [name for name, _ in PASSES]
    assert [n.name for n in plan.nodes] == ["a", "b"]


def test_errors_of_every_checking_pass_come_together() -> None:
    # graph (unknown endpoint), nodes (nat interface), mtu (IPv6), expectations (target):
    # compiling stops only at "stop on errors", after all of them.
    text = """
[lab]
name = "tpass"
[defaults]
ipv6 = true
[nodes.a]
nat = { masquerade = ["wan"] }
[nodes.b]
[[links]]
endpoints = ["a", "b"]
mtu = 1200
[[links]]
endpoints = ["a", "zz"]
[[expect]]
from = "a"
to = "b:eth9"
"""
    with pytest.raises(TopologyError) as e:
        compile_topology(parse(text, "t.toml"), "t.toml")
    assert [p.path for p in e.value.problems if p.severity == "error"] == [
        "nodes.a.nat.masquerade[0]", "links[0].mtu", "links[1].endpoints[1]", "expect[0].to"]
