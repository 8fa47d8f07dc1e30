"""pingall's matrix against the kernel's ping, and traceroute hops."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from netlab.cli import app
from netlab.plan.model import Plan
from netlab.probes import pingall, trace
from tests.support import topogen
from tests.support.netns import kernel_ping

pytestmark = pytest.mark.root
runner = CliRunner()


def test_pingall_matches_kernel_ping(t4a: Plan) -> None:
    result = pingall(t4a, timeout=0.5)
    names = [n.name for n in t4a.nodes]
    assert result.nodes == names and result.pairs == len(names) * (len(names) - 1)
    for src in t4a.nodes:
        for dst in t4a.nodes:
            if src is not dst:
                expected = kernel_ping(src.netns, dst.primary["4"])
                assert result.reached[src.name][dst.name] == expected, (src.name, dst.name)
    # far has no route at all, and nothing routes to it except its neighbour web
    assert set(result.failures()) >= {("pc1", "far"), ("far", "pc1")}
    assert result.reached["web"]["far"] and result.reached["pc1"]["web"]


def test_cli_pingall(t4a: Plan) -> None:
    out = runner.invoke(app, ["pingall", "--timeout", "0.5"])
    assert out.exit_code == 1  # far is unreachable
    assert "13/20 pairs reachable" in out.output
    js = runner.invoke(app, ["pingall", "--lab", "t4a", "--timeout", "0.5", "--json"])
    data = json.loads(js.output)
    assert data["pairs"] == 20 and data["ok_pairs"] == 13 and not data["ok"]


def test_trace_names_every_hop(t4a: Plan) -> None:
    r = trace(t4a, "pc1", "web")
    assert r.reached
    assert [(h.ttl, h.node, h.address) for h in r.hops] == [
        (1, "gw", "10.0.0.1"), (2, "web", "203.0.113.2")]


def test_trace_stops_at_the_unreachable_hop(t4a: Plan) -> None:
    r = trace(t4a, "pc1", "far")
    assert not r.reached
    # TTL 1 expires at gw; TTL 2 passes routing there and hits gw's reject rule
    assert [(h.node, h.note) for h in r.hops] == [("gw", ""), ("gw", "net unreachable")]


def test_cli_trace(t4a: Plan) -> None:
    out = runner.invoke(app, ["trace", "web", "pc2"])
    assert out.exit_code == 0
    assert " 1  gw (203.0.113.1)" in out.output and " 2  pc2 (10.0.0.3)" in out.output
    assert runner.invoke(app, ["trace", "pc1", "far"]).exit_code == 1


@pytest.mark.host_exclusive  # ten thousand neighbour entries and a flood on both CPUs
def test_first_pingall_on_a_fresh_100_host_switch_reaches_every_pair(labs) -> None:  # type: ignore[no-untyped-def]
    """Right after deploy no host knows another: each first request's ARP request is
    flooded to every port inside the send itself (~1.5 s of sending here). The window
    for replies opens after the sends, so the default timeout still hears every pair."""
    plan = labs.lab(topogen.star_lab("{name}", 100))
    result = pingall(plan)
    assert result.pairs == 101 * 100 and result.ok, result.failures()[:5]
