"""`netlab capture` against tcpdump on the same interface at the same time (issue 14,
item 2): the kernel's timestamps in lines and pcap files, and tcpdump's one-liners.

tcpdump reads the same packets' kernel stamps, so the times must agree to well under a
millisecond (they are in fact equal); before, netlab stamped packets when it read them,
after importing scapy on the first one: request and reply 60 ms to 1.5 s apart.
"""

from __future__ import annotations

import contextlib
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from netlab.plan.model import Plan
from netlab.probes.sockets import open_in
from tests.support.netns import netns_exec
from tests.support.traffic import busy_cpu

pytestmark = pytest.mark.root

TOPOLOGIES = Path(__file__).resolve().parents[2] / "topologies"

DUAL = """
[lab]
name = "{name}"
[defaults]
ipv6 = true
[nodes.a]
[nodes.b]
[[links]]
endpoints = ["a", "b"]
"""


class Background:
    """Capturers running while the test makes traffic: started, waited for, stopped."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, argv: list[str], ready: str) -> subprocess.Popen[str]:
        """Run argv; return once its stderr says `ready` (it listens from then on)."""
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        assert p.stderr is not None
        deadline = time.monotonic() + 60
        seen = ""
        while ready not in seen:
            left = deadline - time.monotonic()
            assert left > 0, f"{argv[:4]} never got ready: {seen!r}"
            if select.select([p.stderr], [], [], left)[0]:
                line = p.stderr.readline()
                assert line, f"{argv[:4]} ended: {seen!r}"
                seen += line
        return p

    def stop(self, p: subprocess.Popen[str], sig: int) -> tuple[str, str]:
        p.send_signal(sig)
        out, err = p.communicate(timeout=60)
        return out, err

    def kill_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


@pytest.fixture
def background() -> Iterator[Background]:
    bg = Background()
    try:
        yield bg
    finally:
        bg.kill_all()


def tcpdump_argv(netns: str, pcap: Path) -> list[str]:
    # --immediate-mode: each packet reaches the file at once, not when a ring block fills.
    return ["ip", "netns", "exec", netns, "tcpdump", "-n", "-U", "--immediate-mode", "-i",
            "eth0", "-w", str(pcap), "--time-stamp-precision=nano"]


def netlab_capture(lab: str, where: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "netlab", "capture", "--lab", lab, where,
            "--seconds", "120", *extra]


def tcpdump_lines(pcap: Path) -> list[str]:
    """tcpdump's own one-liners for a pcap (-S: absolute TCP sequence numbers)."""
    out = subprocess.run(["tcpdump", "-n", "-S", "-r", str(pcap)], capture_output=True,
                         text=True, check=True).stdout
    return out.splitlines()


def read_pcap(path: Path) -> list[tuple[int, bytes]]:
    """(nanoseconds, frame) of every packet in a classic pcap file (µs or ns magic)."""
    raw = path.read_bytes()
    magic = struct.unpack_from("<I", raw)[0]
    scale = {0xA1B2C3D4: 1000, 0xA1B23C4D: 1}[magic]
    out, off = [], 24
    while off < len(raw):
        sec, frac, incl, _ = struct.unpack_from("<IIII", raw, off)
        out.append((sec * 1_000_000_000 + frac * scale, raw[off + 16:off + 16 + incl]))
        off += 16 + incl
    return out


def strip_direction(line: str) -> str:
    """netlab's `TIME eth0 Out TEXT` as tcpdump prints it for one interface: `TIME TEXT`."""
    clock, _ifname, _direction, text = line.split(" ", 3)
    return f"{clock} {text}"


def seconds_of_day(line: str) -> float:
    t = datetime.strptime(line.split(" ", 1)[0], "%H:%M:%S.%f")
    return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6


def test_capture_times_and_lines_agree_with_tcpdump(deploy: Callable[[str], Plan],
                                                     background: Background,
                                                     tmp_path: Path) -> None:
    plan = deploy(DUAL)
    a, b = plan.node("a"), plan.node("b")
    v4, v6 = b.primary["4"], b.primary["6"]
    for n in (a, b):  # so that ARP and neighbour discovery show up too
        subprocess.run(["ip", "-n", n.netns, "neigh", "flush", "all"], check=True)
    td_pcap, nl_pcap = tmp_path / "tcpdump.pcap", tmp_path / "netlab.pcap"
    td = background.start(tcpdump_argv(a.netns, td_pcap), "listening on")
    lines = background.start(netlab_capture(plan.lab, "a:eth0"), "capturing on")
    writer = background.start(netlab_capture(plan.lab, "a:eth0", "-w", str(nl_pcap)),
                              "capturing on")
    with busy_cpu():
        assert netns_exec(a.netns, "ping", "-c", "2", "-i", "0.2", v4).returncode == 0
        assert netns_exec(a.netns, "ping", "-6", "-c", "2", "-i", "0.2", v6).returncode == 0
        with contextlib.closing(open_in(a.netns, socket.AF_INET, socket.SOCK_STREAM)) as s, \
                pytest.raises(ConnectionRefusedError):
            s.connect((v4, 9))  # nothing listens: SYN, then RST from b
    time.sleep(0.3)
    out, err = background.stop(lines, signal.SIGTERM)
    background.stop(writer, signal.SIGTERM)
    background.stop(td, signal.SIGINT)

    ours = out.splitlines()
    theirs = set(tcpdump_lines(td_pcap))
    assert ours and "packet(s) captured" in err
    # tcpdump ran before and after netlab: every netlab line is one of tcpdump's, time
    # (to the microsecond) and text alike.
    assert [x for x in ours if strip_direction(x) not in theirs] == [], sorted(theirs)
    text = "\n".join(ours)
    src4, src6 = a.primary["4"], a.primary["6"]
    for wanted in (f"Out IP {src4} > {v4}: ICMP echo request, id ",
                   f"In IP {v4} > {src4}: ICMP echo reply, id ",
                   f"Out IP6 {src6} > {v6}: ICMP6, echo request, id ",
                   f"In IP6 {v6} > {src6}: ICMP6, echo reply, id ",
                   f"ARP, Request who-has {v4}", f"ARP, Reply {v4} is-at ",
                   f"ICMP6, neighbor solicitation, who has {v6}",
                   f"ICMP6, neighbor advertisement, tgt is {v6}",
                   f"Out IP {src4}.", f" > {v4}.9: Flags [S], seq ",
                   f"In IP {v4}.9 > {src4}.", ": Flags [R.], seq 0, ack "):
        assert wanted in text, (wanted, text)
    # Each echo request and its reply: tens of microseconds apart, as the kernel saw them.
    for kind in ("ICMP echo", "ICMP6, echo"):
        request = next(x for x in ours if f"{kind} request" in x and ", seq 1," in x)
        reply = next(x for x in ours if f"{kind} reply" in x and ", seq 1," in x)
        assert 0 <= seconds_of_day(reply) - seconds_of_day(request) < 0.005, (request, reply)

    # The pcap file: nanosecond stamps, the very ones tcpdump wrote for the same frames.
    assert nl_pcap.read_bytes()[:4] == struct.pack("<I", 0xA1B23C4D)
    mine, dumped = read_pcap(nl_pcap), read_pcap(td_pcap)
    assert len(mine) >= 10  # 4 echo requests, 4 replies, SYN, RST and then some
    for stamp, frame in mine:
        twins = [s for s, f in dumped if f == frame]
        assert twins, frame.hex()
        assert min(abs(stamp - s) for s in twins) <= 100_000  # ns; in fact 0


def dns_query(netns: str, server: str, name: str, timeout: float = 1.0) -> bytes | None:
    """One DNS query for `name` (type A) from inside netns; the answer or None."""
    from scapy.layers.dns import DNS, DNSQR

    with contextlib.closing(open_in(netns, socket.AF_INET, socket.SOCK_DGRAM)) as s:
        s.settimeout(timeout)
        s.sendto(bytes(DNS(id=4321, rd=1, qd=DNSQR(qname=name, qtype="A"))), (server, 53))
        try:
            return s.recv(4096)
        except TimeoutError:
            return None


def test_capture_prints_dns_questions_and_answers(deploy: Callable[[str], Plan],
                                                  background: Background,
                                                  tmp_path: Path) -> None:
    text = (TOPOLOGIES / "dns.toml").read_text().replace('name = "dns"', 'name = "{name}"', 1)
    plan = deploy(text)
    pc1 = plan.node("pc1")
    deadline = time.monotonic() + 20
    while dns_query(pc1.netns, "10.0.0.53", "web.lab.test") is None:  # dnsmasq starting
        assert time.monotonic() < deadline, "the lab's dnsmasq never answered"
    td_pcap = tmp_path / "tcpdump.pcap"
    td = background.start(tcpdump_argv(pc1.netns, td_pcap), "listening on")
    lines = background.start(netlab_capture(plan.lab, "pc1:eth0", "--filter", "udp port 53"),
                             "capturing on")
    assert dns_query(pc1.netns, "10.0.0.53", "www.lab.test") is not None
    time.sleep(0.3)
    out, _ = background.stop(lines, signal.SIGTERM)
    background.stop(td, signal.SIGINT)
    ours = out.splitlines()
    assert len(ours) == 2, ours
    question, answer = ours
    assert f" eth0 Out IP {pc1.primary['4']}." in question
    assert " > 10.0.0.53.53: 4321+ A? www.lab.test. (30)" in question
    assert "IP 10.0.0.53.53 > " in answer
    assert ": 4321* 2/0/0 CNAME web.lab.test., A 10.0.0.10 (" in answer
    theirs = set(tcpdump_lines(td_pcap))
    assert [x for x in ours if strip_direction(x) not in theirs] == [], sorted(theirs)


def test_capture_goes_on_across_a_link_down_and_up(deploy: Callable[[str], Plan],
                                                    background: Background) -> None:
    """The captured interface going down (`netlab link ... down`) is no error: the
    capture waits, and shows the frames once the link is back."""
    plan = deploy(DUAL)
    a, b = plan.node("a"), plan.node("b")
    cap = background.start(netlab_capture(plan.lab, "a:eth0", "-f", "icmp"), "capturing on")
    for state in ("down", "up"):
        r = subprocess.run([sys.executable, "-m", "netlab", "link", "--lab", plan.lab, "a",
                            "b", state], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    for _ in range(50):  # the link's carrier comes back within moments
        if netns_exec(a.netns, "ping", "-c", "1", "-W", "1", b.primary["4"]).returncode == 0:
            break
    time.sleep(0.3)
    out, err = background.stop(cap, signal.SIGTERM)
    assert cap.returncode == 0 and "Traceback" not in err, err
    assert "ICMP echo request" in out, out
