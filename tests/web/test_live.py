"""The web view's live state and actions on a deployed lab (ApiSource, live.Watch): what
the kernel says, read through the backend; actions through the same API as the CLI. The
kernel's own `ip` is the witness."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from netlab.plan.model import Plan
    from netlab.web.source import ApiSource

from tests.web.shared import CHAIN_LAB, edge_of

pytestmark = pytest.mark.root

LAB = CHAIN_LAB


@pytest.fixture(scope="module")
def lab(deploy) -> Plan:  # type: ignore[no-untyped-def]
    return deploy(LAB)


@pytest.fixture
def source() -> ApiSource:
    from netlab.web.source import ApiSource

    s = ApiSource()
    yield s
    s.close()



def _until(source: ApiSource, lab: str, edge: str, ok: Callable[[dict], bool],
           timeout: float = 5.0) -> dict:
    """The first sample of `edge` that satisfies ok() within `timeout` s, as the page
    sees it (status, for shaping, is read in the background, within a second or two)."""
    end = time.monotonic() + timeout
    while True:
        st = source.sample(lab)["edges"][edge]
        if ok(st) or time.monotonic() > end:
            return st
        time.sleep(0.2)


def _ip_state(lab: Plan, node: str, ifname: str) -> str:
    netns = lab.node(node).netns
    out = subprocess.run(["ip", "-n", netns, "-o", "link", "show", ifname],
                         capture_output=True, text=True, check=True).stdout
    return "up" if ",UP" in out or "<UP" in out else "down"


def test_sample_sees_every_wire_and_its_traffic(lab: Plan, source: ApiSource) -> None:
    assert lab.lab in source.names()
    first = source.sample(lab.lab)
    assert set(first["edges"]) == {edge_of(lab, "a", "r"), edge_of(lab, "r", "b")}
    assert all(e["state"] == "up" for e in first["edges"].values())
    assert first["drift"] == [] and first["error"] == ""
    # 50 pings of 1000 bytes from a to b in ~0.5 s: both wires carry them.
    ping = subprocess.Popen(["ip", "netns", "exec", lab.node("a").netns, "ping", "-q",
                             "-c", "50", "-i", "0.01", "-s", "1000", "10.255.0.6"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        now = source.sample(lab.lab)
    finally:
        ping.wait(10)
    a_end, r_end = now["edges"][edge_of(lab, "a", "r")]["ends"]
    assert a_end["tx_packets"] > 10 and a_end["tx_bytes"] > 10_000
    assert r_end["rx_packets"] > 10
    assert a_end["counters"]["tx_bytes"] >= a_end["tx_bytes"] * 0.4


def test_link_actions_and_cut_state(lab: Plan, source: ApiSource) -> None:
    edge = edge_of(lab, "r", "b")
    said = source.link(lab.lab, "r", "b", "down", {})
    assert said.endswith(": down")
    assert _ip_state(lab, "r", lab.node("r").interfaces[1].name) == "down"  # the witness
    st = source.sample(lab.lab)["edges"][edge]
    assert st["state"] == "cut" and all(e["held_down"] for e in st["ends"])
    source.link(lab.lab, "r", "b", "up", {})
    assert source.sample(lab.lab)["edges"][edge]["state"] == "up"
    said = source.link(lab.lab, "r", "b", "set", {"rate": "2mbit", "loss": None,
                                                  "delay": None, "jitter": None})
    assert "rate 2mbit" in said
    try:
        st = _until(source, lab.lab, edge,
                    lambda st: all("rate 2mbit" in e["shaping"] for e in st["ends"]))
        assert all("rate 2mbit" in e["shaping"] for e in st["ends"]), st
    finally:
        source.link(lab.lab, "r", "b", "set", {"clear": "1"})
    st = _until(source, lab.lab, edge, lambda st: all(e["shaping"] == "" for e in st["ends"]))
    assert all(e["shaping"] == "" for e in st["ends"]), st


def test_a_link_downed_elsewhere_shows_at_the_next_sample(lab: Plan,
                                                          source: ApiSource) -> None:
    """Taken down by hand (not `netlab link`): down, not cut; status is read only every
    second or so, the flags at every sample."""
    edge = edge_of(lab, "a", "r")
    source.sample(lab.lab)
    a = lab.node("a")
    subprocess.run(["ip", "-n", a.netns, "link", "set", a.interfaces[0].name, "down"],
                   check=True)
    try:
        assert source.sample(lab.lab)["edges"][edge]["state"] == "down"
    finally:
        # The kernel dropped a's routes with the link: `link up` puts them back.
        source.link(lab.lab, "a", "r", "up", {})
    assert source.sample(lab.lab)["edges"][edge]["state"] == "up"


def test_exec_and_capture(lab: Plan, source: ApiSource) -> None:
    out = source.exec(lab.lab, "a", "hostname; exit 3")
    assert out["returncode"] == 3 and out["stdout"].strip() == "a"
    import threading

    def ping() -> None:
        time.sleep(0.5)
        subprocess.run(["ip", "netns", "exec", lab.node("a").netns, "ping", "-c", "2",
                        "-i", "0.2", "10.255.0.6"], capture_output=True)

    t = threading.Thread(target=ping)
    t.start()
    pcap, n = source.capture(lab.lab, "a:eth0", 1.5, None, "icmp")
    t.join()
    assert n >= 2 and pcap[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1")


def test_check_draws_where_each_expectation_went(lab: Plan, source: ApiSource) -> None:
    out = source.check(lab.lab)
    ok, bad = out["results"]
    assert ok["passed"] and ok["path"]["nodes"] == ["a", "r", "b"]
    assert ok["path"]["edges"] == [edge_of(lab, "a", "r"), edge_of(lab, "r", "b")]
    assert not bad["passed"] and bad["path"]["stopped_at"] == "b"  # tcp/9 closed at b
    source.link(lab.lab, "r", "b", "down", {})
    try:
        cut = source.check(lab.lab)["results"][0]
    finally:
        source.link(lab.lab, "r", "b", "up", {})
    assert not cut["passed"]
    assert cut["path"]["stopped_at"] == "r" and cut["path"]["blocked"] == [edge_of(lab, "r", "b")]
