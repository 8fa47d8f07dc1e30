"""Probe logic that needs no root: addressing, packet building/matching, results, JUnit."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netlab.api import load
from netlab.cli import app
from netlab.errors import UsageError
from netlab.probes import matrix, packets, targets
from netlab.probes.check import title
from netlab.probes.junit import to_junit
from netlab.probes.results import (
    CheckReport,
    CheckResult,
    PingallResult,
    PingResult,
    PortResult,
    Reply,
)
from netlab.probes.sniff import Mark, _match
from netlab.probes.tcpudp import _classify, _craft
from netlab.pytest_plugin import unique_plan

TOPO = Path(__file__).parent / "topologies" / "t4a.toml"
runner = CliRunner()


@pytest.fixture(scope="module")
def plan():  # type: ignore[no-untyped-def]
    return load(TOPO).plan


def test_resolve_targets(plan) -> None:  # type: ignore[no-untyped-def]
    assert targets.resolve(plan, "web").address == "203.0.113.2"
    assert targets.resolve(plan, "gw:eth1").address == "203.0.113.1"
    t = targets.resolve(plan, "10.0.0.3")
    assert (t.address, t.node) == ("10.0.0.3", "pc2")
    assert targets.resolve(plan, "192.0.2.1").node is None
    for bad in ("nosuch", "gw:eth7", "pc1:"):
        with pytest.raises(UsageError):
            targets.resolve(plan, bad)
    with pytest.raises(UsageError, match="no IPv6 address"):
        targets.resolve(plan, "web", 6)
    with pytest.raises(UsageError, match="did you mean"):
        targets.source_node(plan, "pc3")


def test_address_map_labels(plan) -> None:  # type: ignore[no-untyped-def]
    names = targets.address_map(plan)
    assert names["203.0.113.1"] == "gw" and names["198.51.100.1"] == "web"
    assert targets.label(names, "10.0.0.1") == "gw (10.0.0.1)"
    assert targets.label(names, "192.0.2.9") == "192.0.2.9"


def test_pingall_echo_is_a_valid_icmp_packet() -> None:
    from scapy.layers.inet import ICMP

    raw = packets.echo(False, 0x1234, 7, matrix._PAYLOAD)
    pkt = ICMP(raw)
    assert (pkt.type, pkt.id, pkt.seq) == (8, 0x1234, 7)
    assert bytes(ICMP(type=8, id=0x1234, seq=7) / matrix._PAYLOAD) == raw  # scapy agrees
    assert packets.checksum(raw) == 0  # a correct checksum sums to zero


def test_classify_tcp_and_udp_answers() -> None:
    from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror, UDPerror

    names = {"10.0.0.3": "pc2", "10.0.0.1": "gw"}

    def classify(proto: str, pkt, icmp: bool = False) -> PortResult:  # type: ignore[no-untyped-def]
        r = PortResult("pc1", "pc2", "10.0.0.3", proto, 80, "", "")
        src = pkt[IP].src
        assert _classify(r, icmp, bytes(pkt), src, "10.0.0.2", 40000, names)
        return r

    synack = IP(src="10.0.0.3", dst="10.0.0.2") / TCP(sport=80, dport=40000, flags="SA")
    rst = IP(src="10.0.0.3", dst="10.0.0.2") / TCP(sport=80, dport=40000, flags="RA")
    assert classify("tcp", synack).state == "open"
    assert classify("tcp", rst).detail == "RST from pc2 (10.0.0.3)"
    quoted = IPerror(src="10.0.0.2", dst="10.0.0.3", proto=17) / UDPerror(sport=40000, dport=80)
    port = IP(src="10.0.0.3", dst="10.0.0.2") / ICMP(type=3, code=3) / quoted
    assert classify("udp", port, icmp=True).state == "closed"
    net = IP(src="10.0.0.1", dst="10.0.0.2") / ICMP(type=3, code=0) / quoted
    r = classify("udp", net, icmp=True)
    assert (r.state, r.detail) == ("unreachable", "ICMP net unreachable from gw (10.0.0.1)")
    reply = IP(src="10.0.0.3", dst="10.0.0.2") / UDP(sport=80, dport=40000) / b"hi"
    assert classify("udp", reply).state == "reply"
    # someone else's traffic does not count
    other = IP(src="10.0.0.3", dst="10.0.0.2") / TCP(sport=80, dport=40001, flags="SA")
    r2 = PortResult("pc1", "pc2", "10.0.0.3", "tcp", 80, "", "")
    assert not _classify(r2, False, bytes(other), "10.0.0.3", "10.0.0.2", 40000, names)


def test_crafted_syn_and_sniffer_match() -> None:
    from scapy.layers.inet import IP, TCP

    seg = _craft("tcp", "10.0.0.2", "10.0.0.3", 40000, 80)
    wire = bytes(IP(src="10.0.0.2", dst="10.0.0.3", proto=6) / TCP(seg))
    tcp = IP(wire)[TCP]
    assert (tcp.sport, tcp.dport, str(tcp.flags)) == (40000, 80, "S")
    assert _match(wire, 0x0800, Mark("tcp", 40000, 80)) == ("10.0.0.2", "10.0.0.3")
    assert _match(wire, 0x0800, Mark("tcp", 40001, 80)) is None


def test_ping_result_numbers() -> None:
    r = PingResult("a", "b", "10.0.0.2", sent=4,
                   replies=[Reply(1, "10.0.0.2", 64, 1.0, 64), Reply(3, "10.0.0.2", 64, 3.0, 64)])
    assert r.ok and r.received == 2 and r.loss == 0.5 and r.rtts == [1.0, 3.0]
    assert r.summary_lines() == ["4 packets transmitted, 2 received, 50% packet loss",
                                 "rtt min/avg/max/mdev = 1.000/2.000/3.000/1.000 ms"]
    none = PingResult("a", "b", "10.0.0.2", sent=1)
    assert not none.ok and none.loss == 1.0 and none.seen() == "timeout (no reply)"


def test_pingall_result_failures() -> None:
    r = PingallResult("x", ["a", "b"], {}, {"a": {"b": True}, "b": {"a": False}}, {}, 0.1)
    assert (r.pairs, r.ok_pairs, r.ok, r.failures()) == (2, 1, False, [("b", "a")])


def test_junit_xml(plan) -> None:  # type: ignore[no-untyped-def]
    report = CheckReport("t4a", [
        CheckResult(0, title(plan.expect[0]), True, "1/1 echo replies"),
        CheckResult(1, title(plan.expect[1]), False, "RST from web <x>", ["more & more"]),
    ], 0.5)
    root = ET.fromstring(to_junit(report))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    cases = suite.findall("testcase")
    assert cases[0].find("failure") is None
    fail = cases[1].find("failure")
    assert fail is not None and fail.get("message") == "RST from web <x>"
    assert "more & more" in (fail.text or "")
    assert cases[1].get("name") == ("[1] pc1 -> web (203.0.113.2) tcp/8080: reach, via gw, "
                                    "source-nat 203.0.113.1")


def test_titles(plan) -> None:  # type: ignore[no-untyped-def]
    assert title(plan.expect[2]) == "[2] pc1 -> pc2 (10.0.0.3) tcp/22: no reach"
    assert title(plan.expect[3]) == "[3] pc1 dns web=203.0.113.2: reach"


def test_unique_plan_renames_lab_and_namespaces() -> None:
    a, b = unique_plan(TOPO), unique_plan(TOPO)
    assert a.lab != b.lab and a.lab.startswith("t4a-") and len(a.lab) <= 12
    assert all(n.netns.startswith(a.lab + "-") for n in a.nodes)
    assert [e.target_address for e in a.expect] == [e.target_address for e in b.expect]


@pytest.mark.parametrize("argv", [
    ["probe", "a", "b"], ["probe", "a", "b", "--tcp", "1", "--udp", "1"],
    ["ping", "a", "b", "-c", "0"], ["check", "--lab", "t4none"], ["pingall", "--lab", "t4none"],
])
def test_usage_errors_exit_2(argv: list[str], tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    from netlab.state import store

    monkeypatch.setenv(store.RUN_DIR_ENV, str(tmp_path))
    assert runner.invoke(app, argv).exit_code == 2


def test_cli_start_does_not_import_scapy() -> None:
    code = ("import sys, netlab.cli, netlab.probes, netlab.pytest_plugin; netlab.cli.app;"
            "print(any(m.startswith(('scapy', 'pyroute2')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
