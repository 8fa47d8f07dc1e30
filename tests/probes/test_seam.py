"""Probes and capture open every socket through the lab's backend (Backend.open_socket),
and capture finds its interface in the node's namespace, not the caller's (issue 11)."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from netlab import backends
from netlab.backends.kernel.backend import KernelBackend
from netlab.errors import UsageError
from netlab.plan.model import Plan
from netlab.probes import capture, ping, probe, sockets
from netlab.probes.capture import CaptureError
from tests.support.netns import kernel_ping

pytestmark = pytest.mark.root

PAIR = """
[lab]
name = "{name}"
[nodes.a]
[nodes.b]
[[links]]
endpoints = ["a:zq7", "b:zq8"]
"""


class Recording(KernelBackend):
    """The kernel backend, noting every socket it is asked for."""

    def __init__(self) -> None:
        self.opened: list[tuple[str, int]] = []

    def open_socket(self, netns: str, family: int, type_: int, proto: int = 0) -> socket.socket:
        self.opened.append((netns, family))
        return super().open_socket(netns, family, type_, proto)


@pytest.fixture(scope="module")
def pair(deploy: Callable[[str], Plan]) -> Plan:
    return deploy(PAIR)


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recording]:
    """A backend registered as a second backend would be, and made the default."""
    monkeypatch.setitem(backends.BACKENDS, "recording", f"{__name__}:Recording")
    monkeypatch.setattr(backends, "DEFAULT", "recording")
    rec = backends.get()
    assert isinstance(rec, Recording)
    rec.opened.clear()
    yield rec


def test_probes_open_their_sockets_through_the_backend(pair: Plan,
                                                       recording: Recording) -> None:
    a = pair.node("a").netns
    assert ping(pair, "a", "b", count=1).ok
    assert recording.opened and {ns for ns, _ in recording.opened} == {a}
    recording.opened.clear()
    probe(pair, "a", "b", "tcp", 9, timeout=0.3)
    assert {ns for ns, _ in recording.opened} == {a}


def _ifindex(netns: str, ifname: str) -> int:
    out = subprocess.run(["ip", "-n", netns, "-j", "link", "show", ifname],
                         capture_output=True, text=True, check=True).stdout
    return int(json.loads(out)[0]["ifindex"])


def test_capture_binds_the_nodes_interface_through_the_backend(pair: Plan,
                                                               recording: Recording) -> None:
    a = pair.node("a").netns
    with pytest.raises(OSError):
        socket.if_nametoindex("zq7")  # the host has no such interface: only the node has
    sock = capture.open_socket(a, "zq7")
    try:
        assert recording.opened == [(a, socket.AF_PACKET)]
        assert capture.ifindex(sock, "zq7") == _ifindex(a, "zq7")
        assert sock.getsockname()[0] == "zq7"
        assert sock.getsockopt(socket.SOL_SOCKET, sockets.SO_TIMESTAMPNS) == 1
    finally:
        sock.close()
    with pytest.raises(CaptureError, match="cannot capture on 'nosuch0'"):
        capture.open_socket(a, "nosuch0")


def test_capture_counts_packets_on_the_nodes_interface(pair: Plan, tmp_path: Path) -> None:
    a = pair.node("a").netns
    out = tmp_path / "x.pcap"
    got: list[int] = []

    def ready() -> None:  # once listening: a ping the capture must see
        got.append(1)
        kernel_ping(a, pair.node("b").primary["4"])

    n = capture.capture(a, "zq7", write=out, count=2, timeout=10, ready=ready)
    assert got == [1] and n == 2
    assert out.read_bytes()[:4] == (0xA1B23C4D).to_bytes(4, "little")


@pytest.mark.parametrize("where", ["/nonexistent/x.pcap", "DIR"])
def test_a_bad_pcap_path_is_an_error_before_capturing_is_announced(
        pair: Plan, tmp_path: Path, where: str) -> None:
    path = tmp_path if where == "DIR" else Path(where)
    announced: list[int] = []
    with pytest.raises(UsageError, match=f"cannot write {path}"):
        capture.capture(pair.node("a").netns, "zq7", write=path,
                        ready=lambda: announced.append(1))
    assert announced == []


def test_a_full_disk_is_a_capture_error_not_a_traceback(pair: Plan) -> None:
    announced: list[int] = []
    with pytest.raises(CaptureError, match="cannot write /dev/full"):
        capture.capture(pair.node("a").netns, "zq7", write=Path("/dev/full"),
                        ready=lambda: announced.append(1))
    assert announced == []
