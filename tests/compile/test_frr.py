"""FRR configs generated from the lab (netlab/compile/frr): golden files of what each
router gets (tests/golden/frr/<case>.txt: files, startup, exec, routes), and the rules
behind them (router ids, areas, passive interfaces, peers, hand-written files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from netlab.compile.frr import protocols
from netlab.compile.frr.ospf import parse_area
from netlab.compile.frr.plans import CONF, DAEMONS, VTYSH_CONF
from netlab.plan.model import NodePlan, Plan
from netlab.topology.model import TopologyFile
from tests.support.compile import compile_text, plan, problems
from tests.support.golden import GOLDEN, check

OSPF = """
[lab]
name = "tfospf"
routing = "ospf"
[nodes.r1]
kind = "router"
loopback = ["10.0.0.1/32"]
[nodes.r2]
kind = "router"
loopback = ["10.0.0.2"]
[nodes.r3]
kind = "router"
[nodes.pc]
[switches.lan]
cost = 5
[[links]]
endpoints = ["r1", "r2"]
cost = 20
[[links]]
endpoints = ["r2", "r3"]
[[links]]
endpoints = ["r3", "lan"]
[[links]]
endpoints = ["pc", "lan"]
[uplink]
node = "r1"
"""

AREAS = """
[lab]
name = "tfareas"
routing = "ospf"
[ospf]
hello = 2
dead = 8
point_to_point = false
[nodes.r1]
kind = "router"
[nodes.r2]
kind = "router"
loopback = ["10.0.0.2/32"]
[nodes.r3]
kind = "router"
area = "0.0.0.1"
[nodes.r4]
kind = "router"
area = "0.0.0.1"
[nodes.pc]
[switches.lan]
area = "0.0.0.1"
[[links]]
endpoints = ["r1", "r2"]
[[links]]
endpoints = ["r2", "r3"]
area = "0.0.0.1"
[[links]]
endpoints = ["r3", "lan"]
[[links]]
endpoints = ["r4", "lan"]
[[links]]
endpoints = ["pc", "lan"]
"""

RIP = """
[lab]
name = "tfrip"
routing = "rip"
[rip]
update = 10
timeout = 60
garbage = 40
[nodes.r1]
kind = "router"
loopback = ["10.0.0.1/32"]
[nodes.r2]
kind = "router"
[nodes.pc]
[switches.lan]
[[links]]
endpoints = ["r1", "r2"]
[[links]]
endpoints = ["r2", "lan"]
[[links]]
endpoints = ["pc", "lan"]
"""

BGP = """
[lab]
name = "tfbgp"
routing = "bgp"
[nodes.r1]
kind = "router"
asn = 65001
loopback = ["10.0.0.1/32"]
[nodes.r2]
kind = "router"
asn = 65002
[nodes.r3]
kind = "router"
asn = 65002
[nodes.r4]
kind = "router"
asn = 65004
[nodes.pc]
[switches.core]
[[links]]
endpoints = ["r1", "r2"]
[[links]]
endpoints = ["r2", "r3"]
[[links]]
endpoints = ["r3", "core"]
[[links]]
endpoints = ["r4", "core"]
[[links]]
endpoints = ["pc", "core"]
[uplink]
node = "r1"
"""

# A node's own frr.conf wins; lab routing "auto" elsewhere keeps static routes.
HANDWRITTEN = """
[lab]
name = "tfhand"
routing = "auto"
[nodes.r1]
kind = "router"
routing = "ospf"
files = { "/etc/frr/frr.conf" = "hostname r1\\nrouter ospf\\n network 0.0.0.0/0 area 0\\n" }
[nodes.r2]
kind = "router"
routing = "ospf"
[nodes.r3]
kind = "router"
[nodes.left]
[nodes.right]
[switches.a]
[switches.b]
[[links]]
endpoints = ["left", "a"]
[[links]]
endpoints = ["r1", "a"]
[[links]]
endpoints = ["r1", "r2"]
[[links]]
endpoints = ["r2", "r3"]
[[links]]
endpoints = ["r3", "b"]
[[links]]
endpoints = ["right", "b"]
"""

CASES = {"ospf": OSPF, "ospf-areas": AREAS, "rip": RIP, "bgp": BGP, "handwritten": HANDWRITTEN}


def _render(n: NodePlan) -> str:
    out = [f"=== {n.name} ({n.kind})"]
    out += [f"route {r.to} via {r.via} dev {r.dev} ({r.origin})" for r in n.routes]
    out += [f"startup: {c}" for c in n.startup]
    out += [f"exec: {c}" for c in n.exec]
    for f in n.files:
        out += [f"--- file {f.path} (mode {f.mode:o})", (f.text or "").rstrip("\n")]
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("case", sorted(CASES))
def test_generated_configs_are_golden(case: str) -> None:
    p = plan(CASES[case])
    check(GOLDEN / "frr" / f"{case}.txt", "".join(_render(n) for n in p.nodes))


def _files(p: Plan, node: str) -> dict[str, str | None]:
    return {f.path: f.text for f in p.node(node).files}


def test_every_router_gets_frr_and_hosts_do_not() -> None:
    p = plan(OSPF)
    for r in ("r1", "r2", "r3"):
        assert set(_files(p, r)) == {CONF, DAEMONS, VTYSH_CONF}
        assert p.node(r).exec[0].startswith("exec /usr/lib/frr/zebra ")
        assert p.node(r).exec[1].endswith(
            "/usr/lib/frr/ospfd -u root -g frrvty -f /etc/frr/frr.conf -A 127.0.0.1")
        assert p.node(r).startup == ["install -d -m 0755 /run/frr"]
    pc = p.node("pc")
    assert pc.files == [] and pc.exec == [] and pc.startup == []
    # The host keeps its static default route (via r3, its segment's router).
    assert [(r.to, r.via, r.origin) for r in pc.routes] == [("default", "10.10.0.1", "default")]


def test_router_id_is_the_first_loopback_else_the_highest_address() -> None:
    p = plan(OSPF)
    assert "ospf router-id 10.0.0.1\n" in _files(p, "r1")[CONF]  # type: ignore[operator]
    assert "ospf router-id 10.0.0.2\n" in _files(p, "r2")[CONF]  # type: ignore[operator]
    # r3: 10.255.0.6 (links[1]) and 10.10.0.1 (lan): the highest.
    assert "ospf router-id 10.255.0.6\n" in _files(p, "r3")[CONF]  # type: ignore[operator]


def test_interfaces_towards_hosts_only_are_passive_and_two_router_links_p2p() -> None:
    conf = _files(plan(OSPF), "r3")[CONF]
    assert conf is not None
    lan = conf.split("interface eth1\n")[1].split("exit")[0]
    assert " ip ospf passive" in lan and "hello-interval" not in lan
    assert " ip ospf cost 5" in lan  # the switch's cost
    wire = conf.split("interface eth0\n")[1].split("exit")[0]
    assert " ip ospf network point-to-point" in wire and "passive" not in wire


def test_routers_running_a_protocol_get_no_automatic_routes() -> None:
    p = plan(HANDWRITTEN)
    assert [r for r in p.node("r1").routes if r.origin == "auto"] == []
    assert [r for r in p.node("r2").routes if r.origin == "auto"] == []
    # r3 runs no protocol (lab routing "auto"): it keeps its automatic routes.
    assert any(r.origin == "auto" for r in p.node("r3").routes)


def test_a_handwritten_frr_conf_is_honoured() -> None:
    p = plan(HANDWRITTEN)
    files = [f for f in p.node("r1").files if f.path == CONF]
    assert len(files) == 1 and files[0].text is not None
    assert files[0].text.startswith("hostname r1\nrouter ospf\n")
    # It may use static routes: staticd starts too.
    assert any("/usr/lib/frr/staticd " in c for c in p.node("r1").exec)
    # r2's is generated; r1 counts as r2's OSPF neighbour on their link.
    r2 = _files(p, "r2")[CONF]
    assert r2 is not None
    assert "ip ospf passive" not in r2.split("interface eth0\n")[1].split("exit")[0]


def test_uplink_node_hands_on_its_default_route() -> None:
    assert " default-information originate\n" in _files(plan(OSPF), "r1")[CONF]  # type: ignore[operator]
    assert "  network 0.0.0.0/0\n" in _files(plan(BGP), "r1")[CONF]  # type: ignore[operator]
    assert "default-information" not in _files(plan(OSPF), "r2")[CONF]  # type: ignore[operator]


def test_bgp_peers_ebgp_and_ibgp_on_shared_segments() -> None:
    conf = _files(plan(BGP), "r3")[CONF]
    assert conf is not None
    assert " neighbor 10.255.0.5 remote-as 65002\n" in conf  # r2, same AS: iBGP
    assert "  neighbor 10.255.0.5 next-hop-self\n" in conf
    assert " neighbor 10.10.0.2 remote-as 65004\n" in conf  # r4 on the switch: eBGP
    assert "next-hop-self" not in conf.split("neighbor 10.10.0.2 activate")[1]
    assert " no bgp ebgp-requires-policy\n" in conf


@pytest.mark.parametrize(("text", "number"), [
    (0, 0), (1, 1), ("1", 1), ("0.0.0.1", 1), ("1.2.3.4", 0x01020304),
    (4294967295, 4294967295), (4294967296, None), ("backbone", None), ("1.2.3", None),
    ("", None), ("-1", None), ("٣", None),
])
def test_area_forms(text: str | int, number: int | None) -> None:
    assert parse_area(text) == number


def test_settings_are_checked() -> None:
    found = problems(RIP.replace("timeout = 60", "timeout = 10"))
    assert [p.path for p in found if p.severity == "error"] == ["rip.timeout"]
    found = problems(BGP.replace('routing = "bgp"', 'routing = "bgp"\n[bgp]\nkeepalive = 30'))
    assert [p.path for p in found if p.severity == "error"] == ["bgp.keepalive"]


def test_ipv6_is_not_advertised_and_says_so() -> None:
    compiled = compile_text(OSPF.replace("[nodes.r1]", "[defaults]\nipv6 = true\n[nodes.r1]"))
    assert any(p.path == "lab.routing" and "IPv4 only" in p.message
               for p in compiled.warnings)
    assert not any("IPv4 only" in p.message for p in compile_text(OSPF).warnings)


def test_protocols_of_a_model() -> None:
    tf = TopologyFile.model_validate({
        "lab": {"name": "x", "routing": "rip"},
        "nodes": {"r1": {"kind": "router"}, "r2": {"kind": "router", "routing": "none"},
                  "r3": {"kind": "router", "routing": "bgp", "asn": 1}, "h": {}}})
    assert protocols(tf) == {"r1": "rip", "r3": "bgp"}


def test_expectation_kinds_know_a_node_by_its_loopback() -> None:
    """ospf = {neighbor = "r2"}: FRR names neighbours by router id, here r2's loopback."""
    from types import SimpleNamespace

    from netlab.probes.kinds.frr import peer_addresses

    p = plan(OSPF)
    got = peer_addresses(SimpleNamespace(plan=p), "r2")  # type: ignore[arg-type]
    assert {"10.0.0.2", "10.255.0.2", "10.255.0.5"} <= got
    assert peer_addresses(SimpleNamespace(plan=p), "10.9.9.9") == {"10.9.9.9"}  # type: ignore[arg-type]


def test_the_example_of_docs_routing_md_compiles() -> None:
    from tests.support import REPO

    text = (REPO / "docs" / "routing.md").read_text()
    example = text.split("```toml\n")[1].split("```")[0]
    p = plan(example)
    assert [f.path for f in p.node("r1").files][0] == CONF
    assert len(p.expect) == 2


def test_a_frr_conf_in_the_mirrored_lab_directory_is_honoured(tmp_path: Path) -> None:
    """Kathará style: <topology dir>/r1/etc/frr/frr.conf is r1's config, not a second one."""
    from netlab.api import load

    (tmp_path / "r1" / "etc" / "frr").mkdir(parents=True)
    (tmp_path / "r1" / "etc" / "frr" / "frr.conf").write_text("hostname mine\n")
    topo = tmp_path / "lab.toml"
    topo.write_text(OSPF)
    p = load(topo).plan
    confs = [f for f in p.node("r1").files if f.path == CONF]
    assert len(confs) == 1 and confs[0].source == str(tmp_path / "r1" / "etc" / "frr" /
                                                       "frr.conf")
    assert any("/usr/lib/frr/staticd " in c for c in p.node("r1").exec)
    assert [f for f in p.node("r2").files if f.path == CONF][0].text  # generated


def test_ospf_keys_without_ospf_are_warned_about() -> None:
    compiled = compile_text(OSPF.replace('routing = "ospf"', 'routing = "auto"'))
    assert sorted(p.path for p in compiled.warnings if "OSPF" in p.message) == [
        "links[0].cost", "switches.lan.cost"]
    assert not any("OSPF" in p.message for p in compile_text(OSPF).warnings)


def test_a_bgp_peer_with_its_own_config_and_no_asn_is_any_external_as() -> None:
    p = plan(BGP.replace('asn = 65004\n', 'files = { "/etc/frr/frr.conf" = "router bgp 7\\n" }\n'))
    conf = _files(p, "r3")[CONF]
    assert conf is not None and " neighbor 10.10.0.2 remote-as external\n" in conf
