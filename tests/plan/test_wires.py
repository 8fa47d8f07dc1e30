"""Naming wires and interfaces the way people do, and the runtime record (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from netlab.compile.compiler import compile_topology
from netlab.errors import UsageError
from netlab.plan import wires
from netlab.plan.model import Plan, ShapingPlan
from netlab.state import linkstate, store
from netlab.topology.loader import parse

TOPO = """
[lab]
name = "t7w"
[nodes.r1]
kind = "router"
[nodes.r2]
kind = "router"
[nodes.pc]
[switches.lan]
[[links]]
endpoints = ["r1", "r2"]
[[links]]
endpoints = ["r1:wan2", "r2:wan2"]
rate = "1mbit"
[[links]]
endpoints = ["pc", "lan"]
[[links]]
endpoints = ["r1", "lan"]
"""


@pytest.fixture(scope="module")
def plan() -> Plan:
    return compile_topology(parse(TOPO, "w.toml"), "w.toml").plan


def test_find_by_node_names_and_switches(plan: Plan) -> None:
    w = wires.find(plan, "pc", "lan")
    assert w.label == "pc:eth0 <-> lan:pc-eth0"
    w = wires.find(plan, "lan", "r1")  # order follows the command line
    assert (w.a.owner, w.b.owner) == ("lan", "r1") and w.b.end.ifname == "eth1"


def test_parallel_links_need_an_interface(plan: Plan) -> None:
    with pytest.raises(UsageError, match="joined by 2 links"):
        wires.find(plan, "r1", "r2")
    w = wires.find(plan, "r2:wan2", "r1")
    assert w.a.label == "r2:wan2" and w.b.label == "r1:wan2"
    assert w.a.end.shaping == ShapingPlan(rate_bit=1_000_000)


def test_unknown_names(plan: Plan) -> None:
    with pytest.raises(UsageError, match='did you mean "pc"'):
        wires.find(plan, "r1", "pcc")
    with pytest.raises(UsageError, match="no link between pc and r2"):
        wires.find(plan, "pc", "r2")


def test_interfaces_for_capture(plan: Plan) -> None:
    assert wires.interface(plan, "pc:eth0") == ("t7w-pc", "eth0")
    assert wires.interface(plan, "lan:br0") == ("t7w-lan", "br0")
    assert wires.interface(plan, "lan:pc-eth0") == ("t7w-lan", "pc-eth0")
    with pytest.raises(UsageError, match="has no interface 'eth9'"):
        wires.interface(plan, "pc:eth9")
    with pytest.raises(UsageError, match="pc:IFNAME"):
        wires.interface(plan, "pc")


def test_runtime_record(plan: Plan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(store.RUN_DIR_ENV, str(tmp_path))
    (tmp_path / plan.lab).mkdir()
    end = plan.veths[1].a
    assert linkstate.shaping(plan.lab, end) == ShapingPlan(rate_bit=1_000_000)  # the plan's
    linkstate.record(plan.lab, end, shaping=ShapingPlan(loss_pct=3.0), down=True)
    assert linkstate.shaping(plan.lab, end) == ShapingPlan(loss_pct=3.0)
    assert linkstate.load(plan.lab)[linkstate.key(end)]["down"] is True
    linkstate.record(plan.lab, end, shaping=None, down=False)
    assert linkstate.shaping(plan.lab, end) is None  # cleared at runtime, not the plan's
    assert linkstate.load(plan.lab) == {"t7w-r1:wan2": {"shaping": None, "down": False}}
