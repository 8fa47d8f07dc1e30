"""The web view's pure parts (netlab/web/view.py, live.parse_links): a plan as the page's
graph, traces and check results as paths, counters as rates. No kernel, no browser."""

from __future__ import annotations

import struct

from netlab.probes.results import CheckReport, CheckResult, Hop, TraceResult
from netlab.web import live, view
from tests.support.compile import plan
from tests.support.gen import star

NATGW = """
[lab]
name = "natgw"
[nodes.pc1]
[nodes.pc2]
[nodes.gw]
kind = "router"
[nodes.web]
[switches.lan]
subnet = "10.0.0.0/24"
[[links]]
endpoints = ["pc1", "lan"]
[[links]]
endpoints = ["pc2", "lan"]
[[links]]
endpoints = ["gw:eth0", "lan"]
[[links]]
endpoints = ["gw:eth1", "web:eth0"]
subnet = "203.0.113.0/30"
[[expect]]
from = "pc1"
to = "web"
[[expect]]
from = "pc1"
to = "web"
proto = "tcp"
port = 80
"""


def _edges(g: dict) -> dict[tuple[str, str], dict]:
    return {(e["source"], e["target"]): e for e in g["edges"]}


def test_graph_has_every_node_switch_and_wire() -> None:
    p = plan(NATGW)
    g = view.graph(p)
    kinds = {n["id"]: n["kind"] for n in g["nodes"]}
    assert kinds == {"pc1": "host", "pc2": "host", "gw": "router", "web": "host",
                     "lan": "switch"}
    assert len(g["edges"]) == len(p.veths) == 4
    wire = _edges(g)[("gw", "web")]
    assert wire["a"]["ifname"] == "eth1" and wire["a"]["addresses"] == ["203.0.113.1/30"]
    assert wire["b"]["ifname"] == "eth0" and wire["b"]["addresses"] == ["203.0.113.2/30"]
    assert [n["subnets"] for n in g["nodes"] if n["id"] == "lan"] == [["10.0.0.0/24"]]
    assert g["expect"] == 2


def _trace(hops: list[tuple[str | None, str | None]], reached: bool) -> TraceResult:
    return TraceResult("pc1", "web", "203.0.113.2",
                       [Hop(i + 1, a, n, 0.1 if n else None) for i, (n, a) in enumerate(hops)],
                       reached)


def test_path_of_a_trace_that_arrived_crosses_the_switch() -> None:
    p = plan(NATGW)
    ids = {k: e["id"] for k, e in _edges(view.graph(p)).items()}
    t = _trace([("gw", "10.0.0.1"), ("web", "203.0.113.2")], True)
    path = view.path_of(p, "pc1", "web", t)
    assert path.nodes == ["pc1", "gw", "web"]
    assert path.edges == [ids[("pc1", "lan")], ids[("gw", "lan")], ids[("gw", "web")]]
    assert path.reached and path.stopped_at is None and path.blocked == []
    assert path.answered == "web (203.0.113.2)"


def test_path_of_a_trace_that_stopped_says_where_and_what_was_not_crossed() -> None:
    p = plan(NATGW)
    ids = {k: e["id"] for k, e in _edges(view.graph(p)).items()}
    t = _trace([("gw", "10.0.0.1"), (None, None), (None, None)], False)
    path = view.path_of(p, "pc1", "web", t)
    assert path.nodes == ["pc1", "gw"] and not path.reached
    assert path.stopped_at == "gw"
    assert path.blocked == [ids[("gw", "web")]]
    assert path.answered.startswith("gw (10.0.0.1)")


def test_path_of_no_route_stops_at_the_source() -> None:
    p = plan(NATGW)
    t = TraceResult("pc1", "web", "203.0.113.2", [Hop(1, None, None, None, "no route")])
    path = view.path_of(p, "pc1", "web", t)
    assert path.stopped_at == "pc1" and path.edges == [] and path.answered == "no route"
    assert len(path.blocked) == 2  # pc1 -> lan -> gw: up to the next node that routes


def test_check_view_marks_a_failure_where_it_stopped() -> None:
    p = plan(NATGW)
    report = CheckReport("natgw", [CheckResult(0, "[0] pc1 -> web icmp: reach", True, "ok"),
                                   CheckResult(1, "[1] pc1 -> web tcp/80", False,
                                               "filtered", hint="open the port")], 1.0)
    traces = {0: _trace([("gw", "10.0.0.1"), ("web", "203.0.113.2")], True),
              1: _trace([("gw", "10.0.0.1"), ("web", "203.0.113.2")], True)}
    out = view.check_view(p, report, traces)
    assert (out["passed"], out["total"], out["ok"]) == (1, 2, False)
    ok, bad = out["results"]
    assert ok["passed"] and ok["path"]["stopped_at"] is None
    # The packets arrived, the answer was wrong: the target itself is marked.
    assert not bad["passed"] and bad["path"]["stopped_at"] == "web"
    assert bad["hint"] == "open the port"


def test_traceable_kinds() -> None:
    p = plan(NATGW)
    assert all(view.traceable(e) for e in p.expect)


def test_rates_and_counter_resets() -> None:
    a = {"rx_packets": 10, "tx_packets": 0, "rx_bytes": 1000, "tx_bytes": 0}
    b = {"rx_packets": 30, "tx_packets": 4, "rx_bytes": 3000, "tx_bytes": 400}
    assert view.rates(None, b, 1.0) == {}
    assert view.rates(a, b, 2.0) == {"rx_packets": 10.0, "tx_packets": 2.0,
                                     "rx_bytes": 1000.0, "tx_bytes": 200.0}
    assert view.rates(b, a, 1.0)["rx_packets"] == 0.0  # re-created interface: no negative


def test_edge_state() -> None:
    up, down = {"state": "up"}, {"state": "down"}
    assert view.edge_state([up, up]) == "up"
    assert view.edge_state([up, {"state": "lower-down"}]) == "down"
    assert view.edge_state([{"state": "down", "held_down": True}, down]) == "cut"
    assert view.edge_state([up, {"state": "missing"}]) == "missing"
    # Up now: a status read before `link up` (held_down) is out of date.
    assert view.edge_state([{"state": "up", "held_down": True}, up]) == "up"


def _newlink(index: int, flags: int, name: str, stats: tuple[int, ...] | None) -> bytes:
    def attr(kind: int, payload: bytes) -> bytes:
        n = 4 + len(payload)
        return struct.pack("=HH", n, kind) + payload + b"\0" * (-n & 3)

    body = struct.pack("=BxHiII", 0, 1, index, flags, 0) + attr(3, name.encode() + b"\0")
    if stats is not None:
        body += attr(23, struct.pack("=23Q", *stats, *([0] * (23 - len(stats)))))
    return struct.pack("=IHHII", 16 + len(body), 16, 2, 1, 0) + body


def test_parse_links_reads_flags_and_64_bit_counters() -> None:
    big = 1 << 40  # beyond 32-bit counters
    data = (_newlink(2, live.IFF_UP | live.IFF_LOWER_UP, "eth0", (5, 6, big, 8))
            + _newlink(3, live.IFF_UP, "eth1", (0, 0, 0, 0))
            + _newlink(4, 0, "eth2", None))
    links, done = live.parse_links(data)
    assert not done
    assert links["eth0"] == {"state": "up", "rx_packets": 5, "tx_packets": 6,
                             "rx_bytes": big, "tx_bytes": 8}
    assert links["eth1"]["state"] == "lower-down"
    assert links["eth2"] == {"state": "down"}
    _, done = live.parse_links(struct.pack("=IHHIIi", 20, live.NLMSG_DONE, 2, 1, 0, 0))
    assert done


def test_big_star_graph_is_cheap() -> None:
    import time

    p = plan(star(500, "big"))
    start = time.perf_counter()
    g = view.graph(p)
    assert len(g["nodes"]) == 502 and len(g["edges"]) == 501
    assert time.perf_counter() - start < 1.0


def test_a_passing_expectation_is_drawn_green_to_its_target() -> None:
    """A firewall drops the trace's ICMP at gw, the tcp probe passed: its packets reached
    web, so no red, and the way from gw on is the shortest walk."""
    p = plan(NATGW)
    ids = {k: e["id"] for k, e in _edges(view.graph(p)).items()}
    report = CheckReport("natgw", [CheckResult(1, "[1] pc1 -> web tcp/80", True, "SYN-ACK")],
                         1.0)
    traces = {1: _trace([("gw", "10.0.0.1"), (None, None)], False)}
    path = view.check_view(p, report, traces)["results"][0]["path"]
    assert path["stopped_at"] is None and path["blocked"] == []
    assert path["nodes"] == ["pc1", "gw", "web"] and path["reached"]
    assert path["edges"][-1] == ids[("gw", "web")]
