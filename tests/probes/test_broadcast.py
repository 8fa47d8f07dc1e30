"""Issue 14 item 11: `netlab ping` to a subnet's broadcast address said "no route ...
(Permission denied)". The kernel refuses to send to a broadcast address from a socket
without SO_BROADCAST; netlab now sends as `ping -b` does and says what the address is.
Real lab, the kernel's `ping -b` as witness."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import pytest

from netlab.plan.model import Plan
from netlab.probes import ping, probe
from tests.support.cli import run as netlab_cli
from tests.support.netns import netns_exec

pytestmark = pytest.mark.root

LAN = """
[lab]
name = "{name}"
[nodes.h1]
[nodes.h2]
[nodes.h3]
# Linux ignores broadcast echo by default; h3 answers it.
sysctl = { "net.ipv4.icmp_echo_ignore_broadcasts" = 0 }
[switches.lan]
subnet = "10.77.0.0/24"
[[links]]
endpoints = ["h1", "lan"]
[[links]]
endpoints = ["h2", "lan"]
[[links]]
endpoints = ["h3", "lan"]
"""


@pytest.fixture(scope="module")
def lan(deploy: Callable[[str], Plan]) -> Plan:
    return deploy(LAN)


def _broadcast(plan: Plan) -> str:
    iface = plan.node("h1").interfaces[0]
    net = ipaddress.ip_interface(iface.addresses[0]).network
    return str(net.broadcast_address)


def test_ping_to_the_broadcast_address_says_what_it_is(lan: Plan) -> None:
    bcast = _broadcast(lan)
    h3 = lan.node("h3").primary["4"]
    # The witness: the kernel's ping -b from h1 gets h3's answer (and only h3's).
    kernel = netns_exec(lan.node("h1").netns, "ping", "-b", "-c1", "-W1", bcast)
    assert f"from {h3}" in kernel.stdout, kernel.stdout + kernel.stderr
    run = netlab_cli("ping", "--lab", lan.lab, "-c", "2", "h1", bcast)
    out = run.stdout + run.stderr
    assert "Permission denied" not in out and "no route" not in out, out
    assert f"{bcast} is the broadcast address of 10.77.0.0/24 (h1:eth0)" in out, out
    assert "SO_BROADCAST" in out and "ping -b" in out, out
    assert f"from h3 ({h3})" in out, out
    assert "from h2" not in out, out  # h2 ignores broadcast echo, as the kernel's default
    assert run.returncode == 0, out


def test_ping_api_and_port_probe_to_a_broadcast_address(lan: Plan) -> None:
    bcast = _broadcast(lan)
    r = ping(lan, "h1", bcast, count=1, timeout=0.5)
    assert r.ok and {x.address for x in r.replies} == {lan.node("h3").primary["4"]}
    assert "broadcast address of 10.77.0.0/24" in r.note
    assert r.note in r.summary_lines()
    # A port probe asks one host: not sent, and said why (not "Permission denied").
    p = probe(lan, "h1", bcast, "udp", 7, timeout=0.3)
    assert p.state == "unreachable" and "is a broadcast address" in p.detail, p.detail


def test_a_unicast_ping_is_unchanged(lan: Plan) -> None:
    r = ping(lan, "h1", "h2", count=1, timeout=1.0)
    assert r.ok and r.note == ""
    assert [x.address for x in r.replies] == [lan.node("h2").primary["4"]]
