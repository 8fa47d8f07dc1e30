"""A running lab's live state for the page: each wire's state and each end's packets and
bytes per second, read through the backend.

Two readings, at two speeds:
- every second, one RTM_GETLINK dump per namespace (the interfaces' flags and 64-bit
  counters) on a netlink socket the backend opened inside it (Backend.open_socket) and
  kept open: a 500-host lab costs one small dump per namespace, no process, no file;
- Backend.status (what `netlab status` reads: links cut on purpose, shaping, drift), in
  a thread of its own so that it never delays the flags and counters, as often as it
  stays under a fifth of the time: every second for small labs, less often for big ones
  (a 500-host lab's status takes seconds), and at once after an action of the page.
Polling, not netlink event subscriptions: a lab of N namespaces would need N subscribed
sockets for link events, and counters have no events at all; one dump a second per
namespace bounds the work and the delay (docs/web.md).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from typing import TYPE_CHECKING, Any

from netlab.errors import NetlabError
from netlab.web import view

if TYPE_CHECKING:
    from netlab.backends.base import Backend
    from netlab.plan.model import Plan

# linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/if.h
NETLINK_ROUTE = 0
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
RTM_GETLINK, RTM_NEWLINK = 18, 16
IFLA_IFNAME, IFLA_STATS64 = 3, 23
IFF_UP, IFF_LOWER_UP = 0x1, 0x10000
_HDR = struct.Struct("=IHHII")
_IFINFO = struct.Struct("=BxHiII")
_ATTR = struct.Struct("=HH")
_STATS64 = struct.Struct("=4Q")  # rx_packets, tx_packets, rx_bytes, tx_bytes first

STATUS_SHARE = 0.2  # at most this share of the time goes to Backend.status
QUICK_STATUS_S = 0.5  # a status this quick is waited for when a link changed


def parse_links(data: bytes) -> tuple[dict[str, dict[str, Any]], bool]:
    """Interfaces in a chunk of an RTM_GETLINK dump: name -> {state, counters...}, and
    whether the dump ended. state: "up" (up, with carrier), "lower-down" (up, no
    carrier: the peer is down) or "down"."""
    out: dict[str, dict[str, Any]] = {}
    off, done = 0, False
    while off + _HDR.size <= len(data):
        length, mtype, _flags, _seq, _pid = _HDR.unpack_from(data, off)
        if length < _HDR.size:
            break
        body = data[off + _HDR.size: off + length]
        off += (length + 3) & ~3
        if mtype == NLMSG_DONE:
            done = True
        elif mtype == NLMSG_ERROR:
            code = -struct.unpack_from("=i", body)[0]
            if code:
                raise OSError(code, "netlink link dump failed")
        elif mtype == RTM_NEWLINK and len(body) >= _IFINFO.size:
            flags = _IFINFO.unpack_from(body)[3]
            name, stats = None, None
            a = _IFINFO.size
            while a + _ATTR.size <= len(body):
                n, kind = _ATTR.unpack_from(body, a)
                if n < _ATTR.size:
                    break
                payload = body[a + _ATTR.size: a + n]
                if kind == IFLA_IFNAME:
                    name = payload.rstrip(b"\0").decode(errors="replace")
                elif kind == IFLA_STATS64 and len(payload) >= _STATS64.size:
                    stats = _STATS64.unpack_from(payload)
                a += (n + 3) & ~3
            if name is None:
                continue
            up = bool(flags & IFF_UP)
            state = ("up" if flags & IFF_LOWER_UP else "lower-down") if up else "down"
            entry: dict[str, Any] = {"state": state}
            if stats is not None:
                entry.update(zip(view.COUNTERS, stats, strict=True))
            out[name] = entry
    return out, done


class Watch:
    """The live state of one lab, read on demand (`sample`, from one thread at a time)."""

    def __init__(self, plan: Plan, backend: Backend):
        self.plan = plan
        self.backend = backend
        self.lock = threading.Lock()
        self.socks: dict[str, socket.socket] = {}
        self.before: dict[tuple[str, str], dict[str, int]] = {}
        self.before_t = 0.0
        self.status: dict[tuple[str, str], dict[str, Any]] = {}  # (owner, ifname) -> extras
        self.drift: list[str] = []
        self.status_t = 0.0  # monotonic time of the last status reading
        self.status_cost = 0.0  # seconds it took
        self.status_due = True
        self.status_thread: threading.Thread | None = None
        self.flags: dict[tuple[str, str], str] = {}  # each end's state at the last sample
        self.error = ""
        self.ends = [(w, side) for w in _wires(plan) for side in (w.a, w.b)]

    def close(self) -> None:
        with self.lock:  # not while a sample reads them
            for s in self.socks.values():
                s.close()
            self.socks.clear()

    def refresh_status(self) -> None:
        """Read Backend.status on the next sample (after an action: at once)."""
        self.status_due = True

    def _socket(self, netns: str) -> socket.socket:
        s = self.socks.get(netns)
        if s is None:
            s = self.backend.open_socket(netns, socket.AF_NETLINK,
                                         socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
            s.settimeout(2.0)
            s.bind((0, 0))
            self.socks[netns] = s
        return s

    def _dump(self, netns: str) -> dict[str, dict[str, Any]] | None:
        """The namespace's interfaces, or None when it is gone."""
        try:
            s = self._socket(netns)
            s.send(_HDR.pack(_HDR.size + _IFINFO.size, RTM_GETLINK,
                             NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + _IFINFO.pack(0, 0, 0, 0, 0))
            out: dict[str, dict[str, Any]] = {}
            while True:
                part, done = parse_links(s.recv(1 << 20))
                out.update(part)
                if done:
                    return out
        except (OSError, NetlabError):  # gone (NamespaceGone), or a broken socket
            old = self.socks.pop(netns, None)
            if old is not None:
                old.close()
            return None

    def _read_status(self) -> None:
        start = time.monotonic()
        try:
            st = self.backend.status(self.plan.lab)
        except NetlabError as e:
            self.error = str(e)
            return
        finally:
            self.status_cost = time.monotonic() - start
            self.status_t = time.monotonic()
        self.error = ""
        self.drift = list(st.drift)
        self.status = {(ns.name, i.name): {"held_down": i.held_down, "shaping": i.shaping}
                       for ns in st.nodes for i in ns.interfaces}

    def _status_when_due(self) -> None:
        """Start reading the status in its thread when due (one reading at a time)."""
        if self.status_thread is not None and self.status_thread.is_alive():
            return
        wait = max(1.0, self.status_cost / STATUS_SHARE)
        if self.status_due or time.monotonic() - self.status_t >= wait:
            self.status_due = False
            self.status_thread = threading.Thread(target=self._read_status,
                                                  name="netlab-web-status", daemon=True)
            self.status_thread.start()

    def wait_status(self, timeout: float = 60.0) -> None:
        """Read the status now and wait for it (tests; the first sample)."""
        if self.status_thread is not None:
            self.status_thread.join(timeout)
        self._read_status()

    def sample(self) -> dict[str, Any]:
        """Every wire's state and each end's rates now: {"t", "edges": {id: {...}},
        "drift", "error"}."""
        with self.lock:
            if not self.status_t:  # the first sample says at once which links are cut
                self.wait_status()
            t = time.monotonic()
            seconds = t - self.before_t
            dumps: dict[str, dict[str, dict[str, Any]] | None] = {}
            for _, side in self.ends:
                if side.end.netns not in dumps:
                    dumps[side.end.netns] = self._dump(side.end.netns)
            found = {(netns, name): info for netns, d in dumps.items() for name, info
                     in (d or {}).items()}
            flags = {key: found[key]["state"] if key in found else "missing"
                     for key in ((s.end.netns, s.end.ifname) for _, s in self.ends)}
            if self.flags and flags != self.flags:
                # A link changed: was it cut on purpose? Ask now, and wait a moment when
                # the answer is quick (a small lab), so that the page says it at once.
                self.status_due = True
                for _ in range(2):  # a reading under way may predate the change
                    self._status_when_due()
                    if self.status_thread is None or self.status_cost >= QUICK_STATUS_S:
                        break
                    self.status_thread.join(2 * QUICK_STATUS_S)
            else:
                self._status_when_due()
            self.flags = flags
            edges: dict[str, dict[str, Any]] = {}
            for w, side in self.ends:
                key = (side.end.netns, side.end.ifname)
                info = found.get(key)
                end: dict[str, Any] = {"state": flags[key]}
                if info is not None and "rx_packets" in info:
                    counters = {k: info[k] for k in view.COUNTERS}
                    end.update(view.rates(self.before.get(key), counters, seconds))
                    end["counters"] = counters
                    self.before[key] = counters
                end.update(self.status.get((side.owner, side.end.ifname), {}))
                edges.setdefault(view.edge_id(w.index), {"ends": []})["ends"].append(end)
            self.before_t = t
            for e in edges.values():
                e["state"] = view.edge_state(e["ends"])
            return {"lab": self.plan.lab, "t": time.time(), "edges": edges,
                    "drift": self.drift, "error": self.error,
                    "status_age_s": round(time.monotonic() - self.status_t, 2)}

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def _wires(plan: Plan) -> list[Any]:
    from netlab.plan import wires

    return wires.all_wires(plan)
