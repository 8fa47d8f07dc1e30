"""`status` reports drift that matters (issue 14 item 5): sysctls changed in a node,
addresses, routes and interfaces added by hand, besides what is missing; kernel-made
objects (link-local addresses, connected routes, the local table) are not drift.

Each lab has a unique name (tests/support/names.py) and is destroyed by the `labs`
fixture even when the test fails. The kernel's own `ip` and `sysctl` make the changes.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from netlab.plan.model import Plan
from tests.support.compile import plan_from
from tests.support.names import unique_name
from tests.support.netns import netns_exec

pytestmark = pytest.mark.root

DUAL = """
[lab]
name = "x"
[defaults]
ipv6 = true
[nodes.h1]
[nodes.h2]
[nodes.r1]
kind = "router"
sysctl = { "net.ipv4.conf.all.rp_filter" = 2 }
[switches.lan]
subnet = "10.1.0.0/24"
subnet6 = "fd00:1::/64"
[[links]]
endpoints = ["h1", "lan"]
[[links]]
endpoints = ["r1:eth0", "lan"]
[[links]]
endpoints = ["r1:eth1", "h2:eth0"]
subnet = "10.2.0.0/30"
subnet6 = "fd00:2::/64"
"""


def _ip(netns: str, *args: str) -> None:
    subprocess.run(["ip", "-n", netns, *args], check=True, capture_output=True)


def _sysctl(netns: str, key: str, value: str) -> None:
    netns_exec(netns, "sysctl", "-qw", f"{key}={value}", check=True)


def _lab(labs: list[Plan]):  # type: ignore[no-untyped-def]
    plan = plan_from(DUAL, unique_name("t"))
    return plan, labs.deploy(plan)


def test_a_fresh_lab_has_no_drift(labs) -> None:  # type: ignore[no-untyped-def]
    """Kernel-made objects (fe80:: addresses, connected and IPv6 routes, lo's addresses,
    the fallback tunnels of a new namespace) are not drift; the plan's sysctls are read."""
    plan, lab = _lab(labs)
    st = lab.status()
    assert st.drift == [] and st.healthy
    r1 = next(n for n in st.nodes if n.name == "r1")
    assert r1.sysctls["net.ipv4.ip_forward"] == "1"
    assert r1.sysctls["net.ipv4.conf.all.rp_filter"] == "2"


def test_sysctl_changed_in_a_node_is_drift(labs) -> None:  # type: ignore[no-untyped-def]
    plan, lab = _lab(labs)
    r1 = plan.node("r1").netns
    _sysctl(r1, "net.ipv4.ip_forward", "0")
    _sysctl(r1, "net.ipv4.conf.all.rp_filter", "0")
    drift = lab.status().drift
    assert "node r1: sysctl net.ipv4.ip_forward is 0, the plan sets 1" in drift, drift
    assert "node r1: sysctl net.ipv4.conf.all.rp_filter is 0, the plan sets 2" in drift, drift
    assert len(drift) == 2, drift


def test_additions_are_drift(labs) -> None:  # type: ignore[no-untyped-def]
    """An address, a route, a blackhole route and an interface added by hand."""
    plan, lab = _lab(labs)
    h1, r1 = plan.node("h1").netns, plan.node("r1").netns
    _ip(h1, "addr", "add", "192.0.2.7/24", "dev", "eth0")
    _ip(h1, "-6", "addr", "add", "fd00:9::7/64", "dev", "eth0", "nodad")
    _ip(h1, "route", "add", "198.51.100.0/24", "via", "10.1.0.1")
    _ip(r1, "route", "add", "blackhole", "203.0.113.0/24")
    _ip(r1, "link", "add", "extra0", "type", "veth", "peer", "name", "extra1")
    _ip(r1, "link", "set", "extra0", "up")
    drift = lab.status().drift
    want = [
        "node h1: address 192.0.2.7/24 on eth0 is not in the plan (added by hand or by a"
        " daemon)",
        "node h1: address fd00:9::7/64 on eth0 is not in the plan (added by hand or by a"
        " daemon)",
        "node h1: route 198.51.100.0/24 via 10.1.0.1 dev eth0 is not in the plan (added by"
        " hand or by a daemon)",
        "node r1: route blackhole 203.0.113.0/24 is not in the plan (added by hand or by a"
        " daemon)",
        "node r1: interface extra0 is not in the plan (added by hand or by a daemon)",
    ]
    for w in want:
        assert w in drift, (w, drift)
    # The connected route of the added address is the kernel's: not a second line.
    assert not any("192.0.2.0/24" in d for d in drift), drift
    assert len(drift) == len(want), drift


def test_status_exits_1_on_additions_only(labs) -> None:  # type: ignore[no-untyped-def]
    """The CLI: a lab with nothing missing but a sysctl changed is not healthy."""
    plan, _ = _lab(labs)
    _sysctl(plan.node("r1").netns, "net.ipv4.ip_forward", "0")
    r = subprocess.run([sys.executable, "-m", "netlab", "status", "--lab", plan.lab, "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    assert '"healthy": false' in r.stdout and "ip_forward is 0" in r.stdout


def test_router_advertisement_results_are_drift_unless_the_plan_asks(labs) -> None:  # type: ignore[no-untyped-def]
    """What RAs configure (dynamic addresses, `proto ra` routes; made here with `ip`, as
    the kernel would) is drift, said as such, on a node whose plan does not turn
    accept_ra on; on one whose plan does, it is as planned."""
    def edit(raw):  # type: ignore[no-untyped-def]
        raw["nodes"]["h2"]["sysctl"] = {"net.ipv6.conf.eth0.accept_ra": 2}
    plan = plan_from(DUAL, unique_name("t"), edit)
    lab = labs.deploy(plan)
    for node in ("h1", "h2"):
        netns = plan.node(node).netns
        _ip(netns, "-6", "addr", "add", "fd00:7::5/64", "dev", "eth0", "valid_lft", "600",
            "preferred_lft", "600", "nodad")
        _ip(netns, "-6", "route", "add", "fd00:8::/64", "via",
            "fd00:1::1" if node == "h1" else "fd00:2::1", "proto", "ra")
    drift = lab.status().drift
    assert "node h1: address fd00:7::5/64 on eth0 is not in the plan (autoconfigured from a" \
        " router advertisement or a DHCP lease)" in drift, drift
    assert any(d.startswith("node h1: route fd00:8::/64 via") and
               d.endswith("(learned from a router advertisement)") for d in drift), drift
    assert not any(d.startswith("node h2") for d in drift), drift
