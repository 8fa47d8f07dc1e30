"""Plan format 2: what every node shares is in the plan once, so the plan grows linearly
with the lab; saved format-1 plans (labs deployed by the previous netlab) still read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netlab.api import load
from netlab.compile.compiler import compile_topology
from netlab.compile.graph import BRIDGE_MAX_PORTS
from netlab.errors import NetlabError, TopologyError
from netlab.plan.model import PLAN_FORMAT, Plan, PlanFormatError
from netlab.plan.render import plan_text
from netlab.state import store
from netlab.topology.loader import parse
from tests.support import REPO
from tests.support.gen import star

FORMAT_1 = Path(__file__).parent / "data" / "natgw.plan-format1.json"  # by netlab 0.1


def _plan(text: str) -> Plan:
    return compile_topology(parse(text, "t.toml"), "t.toml").plan


def _as_format_1(plan: Plan) -> str:
    """The plan as the previous netlab wrote it: its hosts file in every node."""
    raw = json.loads(plan.to_json())
    hosts = raw.pop("hosts")
    for node in raw["nodes"]:
        node["hosts"] = hosts
    return json.dumps({**raw, "format": 1}, indent=2)


def test_plan_size_grows_linearly() -> None:
    # Format 1 repeated the lab's hosts file in every node: 3.6x for twice the hosts.
    small, big = (len(_plan(star(n)).to_json()) for n in (200, 400))
    assert big / small < 2.2, (small, big)


def test_hosts_file_is_in_the_plan_once() -> None:
    plan = load(REPO / "topologies" / "natgw.toml").plan
    text = plan.to_json()
    assert plan.format == PLAN_FORMAT == 2
    assert text.count("ip6-localhost") == 1
    assert all("hosts" not in node for node in json.loads(text)["nodes"])
    assert "10.0.0.2\tpc1.lab.test pc1 pc1-eth0\n" in plan.hosts
    # The listing shows each entry once, under the hosts heading.
    listing = plan_text(plan)
    assert listing.count("pc1.lab.test") == 1
    assert "hosts (every node's /etc/hosts):\n  10.0.0.2\tpc1.lab.test" in listing


def test_a_plan_saved_by_the_previous_netlab_reads() -> None:
    old = FORMAT_1.read_text()
    assert json.loads(old)["format"] == 1
    plan = Plan.from_json(old)
    new = load("topologies/natgw.toml").plan
    # Expectations gained keys since (state, within...), and the plan the digest of its
    # source text: the rest is the same plan.
    assert len(plan.expect) == len(new.expect) and all(e.within == 0 for e in plan.expect)
    assert plan.source_sha256 == ""
    assert plan.model_copy(update={"expect": new.expect,
                                   "source_sha256": new.source_sha256}) == new
    assert plan.hosts == json.loads(old)["nodes"][0]["hosts"]


@pytest.mark.parametrize("name", ["two-hosts", "dualstack", "broken"])
def test_format_1_converts_to_the_same_plan(name: str) -> None:
    plan = load(REPO / "topologies" / f"{name}.toml").plan
    assert Plan.from_json(_as_format_1(plan)) == plan


@pytest.mark.parametrize("raw, says", [
    ({"format": 3, "lab": "natgw", "nodes": []}, "has format 3, which this netlab cannot read"),
    ({"lab": "natgw", "nodes": []}, "has no format number"),
    ({"format": 1, "lab": "natgw", "nodes": [{"hosts": "a"}, {"hosts": "b"}]}, "is damaged"),
    ({"format": 1, "lab": "natgw"}, "is damaged"),
])
def test_unreadable_plans_say_destroy_and_redeploy(raw: dict, says: str) -> None:
    with pytest.raises(PlanFormatError) as info:
        Plan.from_json(json.dumps(raw))
    assert says in str(info.value)
    assert "destroy the lab (`netlab destroy natgw`" in str(info.value)
    assert "deploy it again" in str(info.value)


def test_a_damaged_format_2_plan_is_still_a_validation_error() -> None:
    raw = json.loads(load(REPO / "topologies" / "natgw.toml").plan.to_json())
    del raw["hosts"]
    with pytest.raises(ValueError, match="hosts"):
        Plan.from_json(json.dumps(raw))


def test_saved_state_of_either_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from netlab.backends.kernel.destroy import _planned_namespaces

    monkeypatch.setenv("NETLAB_RUN_DIR", str(tmp_path))
    plan = load(REPO / "topologies" / "natgw.toml").plan
    d = store.write_plan("natgw", plan)
    saved = d / store.PLAN_FILE
    assert saved.read_text() == plan.to_json()
    assert saved.stat().st_mode & 0o777 == 0o600 and d.stat().st_mode & 0o777 == 0o700
    assert store.read_plan("natgw") == plan
    assert _planned_namespaces("natgw") == plan.namespaces
    # A lab deployed by the previous netlab: readable, and destroy finds its namespaces.
    saved.write_text(_as_format_1(plan))
    assert store.read_plan("natgw") == plan
    assert _planned_namespaces("natgw") == plan.namespaces
    # A plan from a newer netlab: a message that says what to do; destroy still reads it.
    saved.write_text(json.dumps({**json.loads(plan.to_json()), "format": 3}))
    with pytest.raises(NetlabError, match="cannot read.*netlab destroy natgw"):
        store.read_plan("natgw")
    assert _planned_namespaces("natgw") == plan.namespaces


def test_a_switch_takes_at_most_1023_ports() -> None:
    assert BRIDGE_MAX_PORTS == 1023  # measured: the 1024th `ip link set X master br0` fails
    plan = _plan(star(BRIDGE_MAX_PORTS - 1))  # the router and 1022 hosts: 1023 ports
    assert len(plan.switches[0].ports) == BRIDGE_MAX_PORTS
    with pytest.raises(TopologyError) as info:
        _plan(star(BRIDGE_MAX_PORTS))
    (problem,) = info.value.problems
    assert problem.path == "switches.lan" and problem.severity == "error"
    assert "1024 links" in problem.message and "at most 1023 ports" in problem.message
    assert "several switches" in problem.fix and "router" in problem.fix
