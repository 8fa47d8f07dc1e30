"""Every bundled topology deploys as planned, carries traffic, and destroys to nothing."""

from __future__ import annotations

import ipaddress
import socket
import subprocess
from pathlib import Path

import pytest

from netlab.linux.netns import CLONE_NEWUTS, entered
from netlab.plan.model import Plan
from tests.labs.labtools import DYNAMIC_LABS
from tests.support import REPO
from tests.support.compile import plan_from
from tests.support.host import plan_leftovers
from tests.support.netns import kernel_ping

TOPOLOGIES = sorted(p for p in (REPO / "topologies").glob("*.toml")
                    if p.stem not in DYNAMIC_LABS)

pytestmark = pytest.mark.root


def _read_back(netns: str) -> tuple[dict[str, dict], dict[str, list[str]], list[tuple]]:  # type: ignore[type-arg]
    """Links, addresses and routes of a namespace, through pyroute2 (netlink)."""
    from pyroute2 import IPRoute

    with entered(netns):
        ipr = IPRoute()  # no netns=: that would fork a helper and create missing ones
    try:
        links = {m.get_attr("IFLA_IFNAME"): {"index": m["index"], "up": bool(m["flags"] & 1),
                                            "mtu": m.get_attr("IFLA_MTU")}
                 for m in ipr.get_links()}
        names = {v["index"]: k for k, v in links.items()}
        addrs: dict[str, list[str]] = {}
        for m in ipr.get_addr():
            addrs.setdefault(names[m["index"]], []).append(
                f"{m.get_attr('IFA_ADDRESS')}/{m['prefixlen']}")
        routes = [(m["family"], m.get_attr("RTA_DST"), m["dst_len"], m.get_attr("RTA_GATEWAY"),
                   names.get(m.get_attr("RTA_OIF"))) for m in ipr.get_routes(table=254)]
    finally:
        ipr.close()
    return links, addrs, routes


def _route_present(r, routes) -> bool:  # type: ignore[no-untyped-def]
    if r.to in ("default", "default6"):
        fam, dst, plen = (socket.AF_INET6 if r.to == "default6" else socket.AF_INET), None, 0
    else:
        net = ipaddress.ip_network(r.to)
        fam = socket.AF_INET if net.version == 4 else socket.AF_INET6
        dst, plen = str(net.network_address), net.prefixlen
    return any(f == fam and d == dst and p == plen and (r.via is None or g == r.via)
               and (r.dev is None or o == r.dev) for f, d, p, g, o in routes)


def assert_as_planned(plan: Plan) -> None:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for ns in plan.namespaces:
        assert ns in listed.split(), f"{ns} not in `ip netns list`"
    for sw in plan.switches:
        links, _, _ = _read_back(sw.netns)
        assert links[sw.bridge]["up"]
        for port in sw.ports:
            assert links[port.ifname]["up"], port.ifname
    for node in plan.nodes:
        links, addrs, routes = _read_back(node.netns)
        assert links["lo"]["up"]
        for iface in node.interfaces:
            assert iface.name in links, f"{node.name}: {iface.name} missing"
            assert links[iface.name]["up"], f"{node.name}: {iface.name} down"
            assert links[iface.name]["mtu"] == iface.mtu
            for a in iface.addresses:
                have = [ipaddress.ip_interface(x) for x in addrs.get(iface.name, [])]
                assert ipaddress.ip_interface(a) in have, f"{node.name} {iface.name}: {a}"
        for r in node.routes:
            assert _route_present(r, routes), f"{node.name}: route {r} not in {routes}"
        with entered(node.netns):
            forwarding = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
        assert forwarding == ("1" if node.kind == "router" else "0"), node.name
        with entered(f"/run/netlab/{plan.lab}/uts/{node.name}", CLONE_NEWUTS):
            assert socket.gethostname() == node.hostname
        etc = Path("/etc/netns") / node.netns
        assert (etc / "resolv.conf").read_text() == node.resolv_conf
        assert (etc / "hosts").read_text() == plan.hosts


def neighbours(plan: Plan) -> list[tuple[str, str, str]]:
    """(from node, from netns, address) for every pair of nodes sharing a segment."""
    by_segment: dict[str, list[tuple[str, str, str]]] = {}
    for node in plan.nodes:
        for iface in node.interfaces:
            for a in iface.addresses:
                by_segment.setdefault(iface.segment, []).append((node.name, node.netns, a))
    out = []
    for members in by_segment.values():
        for name, netns, a in members:
            for other, _, b in members:
                x, y = ipaddress.ip_interface(a), ipaddress.ip_interface(b)
                if other != name and x.version == y.version and y.ip in x.network:
                    out.append((name, netns, str(y.ip)))
    return out


@pytest.mark.parametrize("path", TOPOLOGIES, ids=[p.stem for p in TOPOLOGIES])
def test_example_deploys_carries_traffic_and_destroys(path: Path, labs: list[Plan]) -> None:
    plan = plan_from(path, f"t3e{TOPOLOGIES.index(path)}")
    lab = labs.deploy(plan)
    assert_as_planned(plan)
    failed = [(a, addr) for a, ns, addr in neighbours(plan) if not kernel_ping(ns, addr, timeout=2)]
    assert not failed, f"no answer between neighbours: {failed}"
    if "EXERCISE" not in path.read_text():  # exercise labs are broken on purpose
        for e in plan.expect:
            if e.proto == "icmp" and e.reach and e.target_address and not e.via:
                ns = plan.node(e.from_node).netns
                assert kernel_ping(ns, e.target_address, timeout=2), \
                    f"expect[{e.index}] {e.from_node} -> {e.to}"
    status = lab.status()
    assert status.drift == []
    lab.destroy()
    assert plan_leftovers(plan) == []
    assert lab.destroy() is None  # idempotent
