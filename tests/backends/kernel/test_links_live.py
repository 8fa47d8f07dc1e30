"""Shaping, link down/up and capture against real labs (root)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from netlab.backends.kernel import linkctl, shaping
from netlab.plan.model import Plan, ShapingPlan
from netlab.state import linkstate, store
from tests.support.cli import invoke as run
from tests.support.names import renamed_copy, run_prefix
from tests.support.netns import kernel_ping, ping_ttl
from tests.support.traffic import tcp_throughput, udp_delivery

pytestmark = pytest.mark.root

P = run_prefix("t7")  # this run's lab names: two runs at once never share one

TWO = """
[lab]
name = "{name}"
[nodes.a]
[nodes.b]
[[links]]
endpoints = ["a", "b"]
subnet = "10.77.0.0/30"
{props}
"""

# h1 - r - h2, h2 also on a switch: route restore and switch ends.
ROUTED = """
[lab]
name = "t7r"
[nodes.h1]
[nodes.h2]
[nodes.r]
kind = "router"
[switches.lan]
subnet = "10.78.2.0/24"
[[links]]
endpoints = ["h1", "r"]
subnet = "10.78.1.0/30"
[[links]]
endpoints = ["r", "lan"]
[[links]]
endpoints = ["h2", "lan"]
"""


@pytest.fixture(scope="module")
def rated(deploy: Callable[[str], Plan]) -> Plan:
    return deploy(TWO.format(name=f"{P}rate", props='rate = "8mbit"'))


@pytest.fixture(scope="module")
def lossy(deploy: Callable[[str], Plan]) -> Plan:
    # Loss only in a's sending direction.
    return deploy(TWO.format(name=f"{P}loss", props='props = [{loss = "10%"}, {}]'))


@pytest.fixture(scope="module")
def routed(deploy: Callable[[str], Plan]) -> Plan:
    return deploy(ROUTED.replace('"t7r"', f'"{P}r"'))


def test_rate_limits_a_real_transfer(rated: Plan) -> None:
    a, b = rated.node("a"), rated.node("b")
    bps = tcp_throughput(a.netns, b.netns, "10.77.0.2", 1_500_000)
    # tbf at 8 Mbit/s: never faster (10 % slack for the measurement), and not crippled.
    assert 2_000_000 < bps < 8_800_000, f"measured {bps / 1e6:.2f} Mbit/s"
    assert shaping.read_props(a.netns, "eth0") == ShapingPlan(rate_bit=8_000_000)


def test_loss_drops_its_share_in_one_direction(lossy: Plan) -> None:
    a, b = lossy.node("a"), lossy.node("b")
    sent = 1000
    got = udp_delivery(a.netns, b.netns, "10.77.0.2", sent)
    # 10 % of 1000: binomial sd is 9.5 packets, so 50..150 lost is a 5-sd band.
    assert 50 <= sent - got <= 150, f"{sent - got} of {sent} lost"
    back = udp_delivery(b.netns, a.netns, "10.77.0.1", sent, port=40009)
    assert back == sent  # the other direction is clean
    props = shaping.read_props(a.netns, "eth0", (b.netns, "eth0"))
    assert props is not None and props.loss_pct == 10.0
    assert shaping.read_props(b.netns, "eth0", (a.netns, "eth0")) is None
    # What `netlab status` gets: planned vs kernel, only for shaped ends.
    want = ShapingPlan(loss_pct=10.0)
    assert linkctl.shaping_status(lossy) == {"a:eth0": (want, want)}
    assert linkctl.status_extras(lossy) == ({(a.netns, "eth0"): "loss 10%"}, set(), [])
    code, out, err = run("status", "--lab", f"{P}loss", "--json")
    assert code == 0, out + err
    ifaces = {n["name"]: n["interfaces"][0] for n in json.loads(out)["nodes"]}
    assert (ifaces["a"]["shaping"], ifaces["b"]["shaping"]) == ("loss 10%", "")


def test_link_set_changes_and_records_at_runtime(lossy: Plan) -> None:
    a, b = lossy.node("a"), lossy.node("b")
    code, out, err = run("link", "--lab", f"{P}loss", "a", "b", "set", "--loss", "100%",
                         "--rate", "2mbit")
    assert code == 0, err
    assert udp_delivery(a.netns, b.netns, "10.77.0.2", 100, port=40010) == 0
    assert udp_delivery(b.netns, a.netns, "10.77.0.1", 100, port=40011) == 0
    assert linkctl.status_extras(lossy)[2] == []  # runtime changes are not drift
    shaping.apply_end(lossy.veths[0].a, lossy.veths[0].b, None)  # behind netlab's back
    assert linkctl.status_extras(lossy)[2] == [
        "a:eth0: shaping is none, expected rate 2mbit loss 100%"]
    shaping.apply_end(lossy.veths[0].a, lossy.veths[0].b,
                      ShapingPlan(rate_bit=2_000_000, loss_pct=100.0))
    rec = json.loads((store.lab_dir(f"{P}loss") / linkstate.LINKS_FILE).read_text())
    assert rec[f"{a.netns}:eth0"]["shaping"]["loss_pct"] == 100.0
    code, out, _ = run("link", "--lab", f"{P}loss", "a", "b")
    assert "rate 2mbit loss 100%" in out

    # Only b's direction back to clean; a keeps its rate but drops the loss.
    assert run("link", "--lab", f"{P}loss", "b", "a", "set", "--from", "b", "--clear")[0] == 0
    assert run("link", "--lab", f"{P}loss", "a", "b", "set", "--from", "a", "--loss", "off")[0] == 0
    assert udp_delivery(b.netns, a.netns, "10.77.0.1", 100, port=40012) == 100
    assert udp_delivery(a.netns, b.netns, "10.77.0.2", 100, port=40013) == 100
    assert shaping.read_props(a.netns, "eth0", (b.netns, "eth0")) == \
        ShapingPlan(rate_bit=2_000_000)
    assert linkstate.shaping(f"{P}loss", lossy.veths[0].b) is None


def test_bad_runtime_values_are_refused(lossy: Plan) -> None:
    code, _, err = run("link", "--lab", f"{P}loss", "a", "b", "set", "--rate", "10mbps")
    assert code == 2 and "10mbit" in err
    if not shaping.netem_available():
        code, _, err = run("link", "--lab", f"{P}loss", "a", "b", "set", "--delay", "20ms")
        assert code == 1 and "CONFIG_NET_SCH_NETEM" in err


def test_link_down_stops_traffic_and_up_restores_it(routed: Plan) -> None:
    h1, h2 = routed.node("h1"), routed.node("h2")
    h2_addr = h2.interfaces[0].addresses[0].split("/")[0]
    assert kernel_ping(h1.netns, h2_addr)
    code, out, err = run("link", "--lab", f"{P}r", "h2", "lan", "down")
    assert code == 0, err
    assert not kernel_ping(h1.netns, h2_addr)
    assert not linkctl.is_up(h2.netns, "eth0")
    assert linkstate.load(f"{P}r")[linkstate.key(routed.veths[2].a)]["down"] is True
    assert linkctl.status_extras(routed)[1] == {(h2.netns, "eth0"), (f"{P}r-lan", "h2-eth0")}
    # `netlab status`: the cut wire (and h2's default route that went with it) is shown,
    # and is not drift.
    code, out, err = run("status", "--lab", f"{P}r", "--json")
    assert code == 0, out + err
    st = json.loads(out)
    h2_st = next(n for n in st["nodes"] if n["name"] == "h2")
    assert h2_st["interfaces"][0]["held_down"] and h2_st["interfaces"][0]["state"] == "down"
    assert st["drift"] == []
    code, out, err = run("link", "--lab", f"{P}r", "h2", "lan", "up")
    assert code == 0, err
    # h2's default route went with the interface; `up` put it back.
    assert kernel_ping(h1.netns, h2_addr)
    assert linkstate.load(f"{P}r")[linkstate.key(routed.veths[2].a)]["down"] is False


def test_link_names_are_checked(routed: Plan) -> None:
    code, _, err = run("link", "--lab", f"{P}r", "h1", "h2", "down")
    assert code == 2 and "no link between h1 and h2" in err
    code, _, err = run("link", "--lab", f"{P}r", "h1", "rr", "down")
    assert code == 2 and 'did you mean "r"' in err


@contextlib.contextmanager
def _pinging(netns: str, addr: str) -> Iterator[None]:
    """One ping every 0.3 s until the block ends: the capture's start (it imports scapy)
    may take seconds on a loaded machine, and a ping sent before it listens is not seen."""
    done = threading.Event()

    def traffic() -> None:
        while not done.wait(0.3):
            kernel_ping(netns, addr)

    t = threading.Thread(target=traffic)
    t.start()
    try:
        yield
    finally:
        done.set()
        t.join()


def test_capture_writes_a_pcap_wireshark_reads(routed: Plan, tmp_path: Path) -> None:
    from scapy.all import ICMP, rdpcap

    h1 = routed.node("h1")
    pcap = tmp_path / "cap.pcap"

    with _pinging(h1.netns, "10.78.1.2"):
        code, _, err = run("capture", "--lab", f"{P}r", "r:eth0", "-w", str(pcap), "--count",
                           "2", "--filter", "icmp", "--seconds", "10")
    assert code == 0, err
    packets = rdpcap(str(pcap))
    assert len(packets) == 2
    assert all(ICMP in p for p in packets)
    assert packets[0][ICMP].type == 8 and packets[1][ICMP].type == 0


def test_capture_prints_one_line_per_packet(routed: Plan) -> None:
    h1, h2 = routed.node("h1"), routed.node("h2")
    h2_addr = h2.interfaces[0].addresses[0].split("/")[0]
    with _pinging(h1.netns, h2_addr):  # crosses the switch
        code, out, err = run("capture", "--lab", f"{P}r", "lan:br0", "--count", "2",
                             "--filter", "icmp", "--seconds", "10")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 2 and "ICMP echo request" in lines[0] and "ICMP echo reply" in lines[1]
    assert "2 packet(s) captured" in err


def test_delay_is_refused_before_anything_is_built_without_netem(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # This kernel has no netem; elsewhere, pretend so: the refusal path is what is tested.
    monkeypatch.setattr(shaping, "netem_available", lambda: False)
    from netlab.api import load
    from netlab.errors import NetlabError

    path = renamed_copy(Path(__file__).parent / "delay.toml", f"{P}delay", tmp_path)
    plan = load(path).plan
    from netlab.lab import Lab

    try:
        with pytest.raises(NetlabError, match="CONFIG_NET_SCH_NETEM") as e:
            Lab.deploy(path)
        assert "nothing was built" in str(e.value) and f"{P}delay-a:eth0" in str(e.value)
        assert not any(Path("/run/netns", ns).exists() for ns in plan.namespaces)
        assert f"{P}delay" not in store.deployed_labs()
    finally:
        Lab(plan).destroy()  # only if the refusal failed to happen


def test_ctrl_c_ends_a_capture_cleanly(routed: Plan, tmp_path: Path) -> None:
    import signal
    import sys

    from scapy.all import rdpcap

    h1 = routed.node("h1")
    pcap = tmp_path / "int.pcap"
    proc = subprocess.Popen(
        [sys.executable, "-m", "netlab", "capture", "--lab", f"{P}r", "r:eth0", "-w", str(pcap),
         "-f", "icmp"],  # an ARP refresh of a stale neighbour is no part of the count
        stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        assert "capturing on r:eth0" in proc.stderr.readline()
        for _ in range(3):  # each returns after its reply: 6 frames queued before Ctrl-C
            assert kernel_ping(h1.netns, "10.78.1.2", timeout=5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "6 packet(s) captured" in err  # 3 echo requests, 3 replies; no traceback
    assert len(rdpcap(str(pcap))) == 6


TRIANGLE = """
[lab]
name = "t7tri"
[nodes.h1]
[nodes.h2]
[nodes.r1]
kind = "router"
[nodes.r2]
kind = "router"
[nodes.r3]
kind = "router"
[[links]]
endpoints = ["h1", "r1"]
subnet = "10.79.1.0/30"
[[links]]
endpoints = ["h2", "r2"]
subnet = "10.79.2.0/30"
[[links]]
endpoints = ["r1", "r2"]
[[links]]
endpoints = ["r1", "r3"]
[[links]]
endpoints = ["r3", "r2"]
"""


def test_route_fails_over_and_back_in_a_triangle(deploy: Callable[[str], Plan]) -> None:
    plan = deploy(TRIANGLE.replace('"t7tri"', f'"{P}tri"'))
    r1, r2 = plan.node("r1"), plan.node("r2")
    r3 = plan.node("r3")
    via_r3 = {n.name: next(a.split("/")[0] for i in r3.interfaces if i.peer.node == n.name
                           for a in i.addresses) for n in (r1, r2)}
    # Backup routes through r3, worse (higher metric) than the direct ones of the plan.
    for node, subnet in ((r1, "10.79.2.0/30"), (r2, "10.79.1.0/30")):
        subprocess.run(["ip", "-n", node.netns, "route", "add", subnet, "via",
                        via_r3[node.name], "metric", "100"], check=True)
    h1 = plan.node("h1")
    assert ping_ttl(h1.netns, "10.79.2.1") == 62  # h2 replies across r2, r1
    assert run("link", "--lab", f"{P}tri", "r1", "r2", "down")[0] == 0
    assert ping_ttl(h1.netns, "10.79.2.1") == 61  # now across r2, r3, r1
    assert run("link", "--lab", f"{P}tri", "r2", "r1", "up")[0] == 0
    assert ping_ttl(h1.netns, "10.79.2.1") == 62  # the direct routes are back
