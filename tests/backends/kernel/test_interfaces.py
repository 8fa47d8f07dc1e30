"""The interface features of issue 12.4 deployed in real namespaces (root): per-end MAC
addresses, loopback addresses, address-less interfaces, a host without a default route,
per-interface sysctls, switch-to-switch links with spanning tree and ageing; `status`
reports a MAC or a loopback address that drifted. The kernel's own `ip`, `ping` and
`bridge` are the witnesses."""

from __future__ import annotations

import json
import time

import pytest

from netlab.backends.kernel.observe import lab_status
from netlab.plan.model import Plan
from tests.support.deploy import Labs
from tests.support.netns import kernel_ping, mac, netns_exec

pytestmark = pytest.mark.root

LAB = """
[lab]
name = "{name}"
[nodes.h]
gateway = false
loopback = ["10.201.0.9"]
[nodes.h.sysctl]
"net.ipv6.conf.eth0.accept_ra" = 2
"net.ipv6.conf.eth0.autoconf" = 0
"net.ipv4.conf.eth0.rp_filter" = 2
"net.ipv4.conf.eth0.proxy_arp" = 1
[nodes.r1]
kind = "router"
loopback = ["10.201.0.1", "fd00:201::1"]
[nodes.r2]
kind = "router"
loopback = ["10.201.0.2/32"]
[nodes.s]
[switches.lan]
[[links]]
endpoints = ["h", "lan"]
props = [{mac = "02:12:00:00:00:0A"}, {mac = "02:12:00:00:00:0b"}]
[[links]]
endpoints = ["r1", "lan"]
[[links]]
endpoints = ["r1", "r2"]
props = [{}, {mac = "02:12:00:00:00:02"}]
[[links]]
endpoints = ["s", "r2"]
addresses = [[], "10.202.0.1/30"]
"""


def _ns(plan: Plan, name: str) -> str:
    for n in [*plan.nodes, *plan.switches]:
        if n.name == name:
            return n.netns
    raise KeyError(name)


def _addresses(netns: str, ifname: str) -> list[str]:
    out = netns_exec(netns, "ip", "-j", "addr", "show", "dev", ifname, check=True).stdout
    return [f"{a['local']}/{a['prefixlen']}" for a in json.loads(out)[0]["addr_info"]
            if a.get("scope") != "link"]


def _sysctl(netns: str, key: str) -> str:
    return netns_exec(netns, "sysctl", "-n", key, check=True).stdout.strip()


def test_interface_features_deploy_and_status_sees_drift(labs: Labs) -> None:
    plan = labs.lab(LAB)
    h, r1, r2, s = (_ns(plan, n) for n in ("h", "r1", "r2", "s"))
    # Per-end MACs, on a node's end and on the switch's end of the same link.
    assert mac(h, "eth0") == "02:12:00:00:00:0a"
    assert mac(_ns(plan, "lan"), "h-eth0") == "02:12:00:00:00:0b"
    assert mac(r2, "eth0") == "02:12:00:00:00:02"
    # Loopbacks on lo, and auto routes between the routers' loopbacks.
    assert {"10.201.0.1/32", "fd00:201::1/128"} <= set(_addresses(r1, "lo"))
    assert kernel_ping(r2, "10.201.0.1")
    assert kernel_ping(r1, "10.201.0.9")  # a host's loopback, via its address on lan
    assert netns_exec(r2, "ping", "-c1", "-W1", "-I", "10.201.0.2", "10.201.0.1").returncode == 0
    # The address-less interface has none; r2's end of that link has its own.
    assert _addresses(s, "eth0") == []
    assert _addresses(r2, "eth1") == ["10.202.0.1/30"]
    # gateway = false: no default route, though r1 is the host's single router.
    routes = netns_exec(h, "ip", "-j", "route", "show", check=True).stdout
    assert not [r for r in json.loads(routes) if r["dst"] == "default"]
    # Per-interface sysctls.
    assert _sysctl(h, "net.ipv6.conf.eth0.accept_ra") == "2"
    assert _sysctl(h, "net.ipv6.conf.eth0.autoconf") == "0"
    assert _sysctl(h, "net.ipv4.conf.eth0.rp_filter") == "2"
    assert _sysctl(h, "net.ipv4.conf.eth0.proxy_arp") == "1"
    assert lab_status(plan.lab).drift == []
    # Drift: a MAC changed by hand, a loopback address removed.
    netns_exec(h, "ip", "link", "set", "eth0", "address", "02:12:00:00:00:99", check=True)
    netns_exec(r1, "ip", "addr", "del", "10.201.0.1/32", "dev", "lo", check=True)
    drift = lab_status(plan.lab).drift
    assert "node h: interface eth0 has MAC address 02:12:00:00:00:99, the plan sets" \
        " 02:12:00:00:00:0a" in drift
    assert "node r1: address 10.201.0.1/32 on lo is missing" in drift
    assert len(drift) == 2, drift


TRIANGLE = """
[lab]
name = "{name}"
[nodes.h1]
[nodes.h2]
[switches.s1]
stp = true
ageing = 0
[switches.s2]
stp = true
ageing = 30
[switches.s3]
stp = true
[[links]]
endpoints = ["h1", "s1"]
[[links]]
endpoints = ["h2", "s3"]
[[links]]
endpoints = ["s1", "s2"]
[[links]]
endpoints = ["s2", "s3"]
[[links]]
endpoints = ["s3", "s1"]
"""


def _bridge(netns: str) -> dict[str, object]:
    out = netns_exec(netns, "ip", "-d", "-j", "link", "show", "br0", check=True).stdout
    return dict(json.loads(out)[0]["linkinfo"]["info_data"])


def _port_states(netns: str) -> dict[str, str]:
    out = netns_exec(netns, "bridge", "-j", "link", "show", check=True).stdout
    return {p["ifname"]: p["state"] for p in json.loads(out)}


def test_a_triangle_of_switches_with_stp_blocks_one_port(labs: Labs) -> None:
    plan = labs.lab(TRIANGLE)
    sws = {n: _ns(plan, n) for n in ("s1", "s2", "s3")}
    assert all(_bridge(ns)["stp_state"] == 1 for ns in sws.values())
    # Every switch link is a port of both bridges.
    assert {n: len(_port_states(ns)) for n, ns in sws.items()} == {"s1": 3, "s2": 2, "s3": 3}
    h1, h2 = _ns(plan, "h1"), _ns(plan, "h2")
    target = plan.node("h2").primary["4"]
    deadline = time.monotonic() + 30  # ports listen and learn for 2 x 4 s first
    while not kernel_ping(h1, target) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert kernel_ping(h1, target)
    states = [s for ns in sws.values() for s in _port_states(ns).values()]
    assert states.count("blocking") == 1, states
    assert states.count("forwarding") == len(states) - 1
    assert kernel_ping(h2, plan.node("h1").primary["4"])
    assert lab_status(plan.lab).drift == []
    # Ageing: while STP reports a topology change the kernel ages at 2 x forward delay,
    # then goes back to the configured time.
    deadline = time.monotonic() + 30
    while any(_bridge(ns)["topology_change"] for ns in sws.values()) \
            and time.monotonic() < deadline:
        time.sleep(0.5)
    info = {n: _bridge(ns) for n, ns in sws.items()}
    assert info["s1"]["ageing_time"] == 0 and info["s2"]["ageing_time"] == 3000
    assert info["s3"]["ageing_time"] == 30000  # the kernel's default, 300 s
    # Spanning tree turned off by hand is drift.
    netns_exec(sws["s2"], "ip", "link", "set", "br0", "type", "bridge", "stp_state", "0",
               check=True)
    drift = lab_status(plan.lab).drift
    netns_exec(sws["s2"], "ip", "link", "set", "br0", "type", "bridge", "stp_state", "1")
    assert drift == ["switch s2: spanning tree is off on br0, the plan turns it on"]
