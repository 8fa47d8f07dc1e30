"""ICMP echo against a real lab, checked against the kernel's own ping."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from netlab.cli import app
from netlab.plan.model import Plan
from netlab.probes import ping
from tests.support.netns import kernel_ping

pytestmark = pytest.mark.root
runner = CliRunner()


@pytest.mark.parametrize(("src", "dst"), [
    ("pc1", "pc2"), ("pc1", "web"), ("web", "pc1"), ("pc1", "gw:eth1"),  # reachable
    ("pc1", "far"), ("far", "pc1"), ("pc1", "10.0.0.99"),  # unreachable, three ways
])
def test_ping_agrees_with_kernel(t4a: Plan, src: str, dst: str) -> None:
    result = ping(t4a, src, dst, count=2, interval=0.05, timeout=0.5)
    assert result.ok == kernel_ping(t4a.node(src).netns, result.address)
    assert result.sent in (0, 2)


def test_ping_result_fields(t4a: Plan) -> None:
    r = ping(t4a, "pc1", "web", count=3, interval=0.02, timeout=1.0)
    assert r.address == "203.0.113.2"
    assert [x.seq for x in r.replies] == [1, 2, 3]
    assert r.loss == 0.0 and len(r.rtts) == 3 and all(t > 0 for t in r.rtts)
    assert {x.ttl for x in r.replies} == {63}  # one router (gw) on the way


def test_unreachable_reports_the_hop(t4a: Plan) -> None:
    r = ping(t4a, "pc1", "far", count=1, timeout=1.0)
    assert not r.ok and r.loss == 1.0
    assert r.errors and r.errors[0].node == "gw" and r.errors[0].text == "net unreachable"


def test_cli_ping_output_and_exit_codes(t4a: Plan) -> None:
    ok = runner.invoke(app, ["ping", "pc1", "web", "-c", "2", "-i", "0.05"])
    assert ok.exit_code == 0, ok.output
    assert "icmp_seq=1 ttl=63" in ok.output and "icmp_seq=2" in ok.output
    assert "2 packets transmitted, 2 received, 0% packet loss" in ok.output
    assert "rtt min/avg/max" in ok.output

    bad = runner.invoke(app, ["ping", "--lab", "t4a", "pc1", "far", "-c", "1"])
    assert bad.exit_code == 1
    assert "From gw (10.0.0.1) icmp_seq=1 net unreachable" in bad.output

    js = runner.invoke(app, ["ping", "pc1", "pc2", "-c", "1", "--json"])
    data = json.loads(js.output)
    assert js.exit_code == 0 and data["ok"] and data["received"] == 1 and data["loss"] == 0


@pytest.mark.parametrize("argv", [
    ["ping", "pc1", "nosuch"], ["ping", "nosuch", "pc1"], ["ping", "pc1", "web", "-c", "0"],
    ["ping", "pc1", "pc2:eth9"], ["ping", "--lab", "t4zz", "pc1", "web"],
    ["ping", "pc1", "web", "-6"],  # t4a has no IPv6
])
def test_cli_ping_usage_errors_exit_2(t4a: Plan, argv: list[str]) -> None:
    assert runner.invoke(app, argv).exit_code == 2
