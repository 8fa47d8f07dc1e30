"""One namespace as the kernel has it, read back over netlink (a socket opened inside
it) and /proc/sys: links, addresses, main-table routes with who made them, the sysctls
asked for, and the namespace's cookie (its identity). netlab.backends.kernel.observe
compares this with the plan.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from netlab.linux.netns import entered


@dataclass
class Kernel:
    # ifname -> {index, up, carrier, mtu, master, mac, stp (bridges: STP on; else None)}
    links: dict[str, dict[str, Any]]
    addrs: dict[str, list[Addr]]  # ifname -> addresses
    routes: list[Route]  # main table
    cookie: int  # the namespace's cookie (its identity)
    sysctls: dict[str, str | None]  # key -> value read (None: unreadable)


@dataclass(frozen=True)
class Addr:
    cidr: str
    permanent: bool  # False: autoconfigured (SLAAC from a router advertisement)

    def __str__(self) -> str:
        return self.cidr


@dataclass(frozen=True)
class Route:
    to: str  # "default", "default6" or a subnet
    vias: tuple[str, ...]  # gateways (several for a multipath route)
    dev: str | None
    proto: int  # RTPROT_*: who made it
    type: int  # RTN_*

    def __str__(self) -> str:
        kind = "" if self.type == RTN_UNICAST else f"{RTN_NAMES.get(self.type, self.type)} "
        return (kind + self.to + "".join(f" via {v}" for v in self.vias)
                + (f" dev {self.dev}" if self.dev else ""))


IFA_F_PERMANENT = 0x80
RTPROT_KERNEL, RTPROT_RA = 2, 9
RTN_UNICAST = 1
RTN_NAMES = {6: "blackhole", 7: "unreachable", 8: "prohibit"}
RT_TABLE_MAIN = 254
# Addresses the kernel gives lo in every namespace.
LO_ADDRS = {"127.0.0.1/8", "::1/128"}


def read_namespace(netns: str, sysctls: Sequence[str] = ()) -> Kernel:
    from netlab.linux import netlink, ownership

    with entered(netns):
        sock = netlink.open_socket()
        values = {key: _read_sysctl(key) for key in sysctls}  # net.* follow this thread
    try:
        cookie = ownership.cookie(sock)
        links_raw = netlink.dump(sock, "links")
        addrs_raw = netlink.dump(sock, "addrs")
        routes_raw = netlink.dump(sock, "routes")
    finally:
        sock.close()
    by_index: dict[int, str] = {}
    links: dict[str, dict[str, Any]] = {}
    for m in links_raw:
        name = m.get_attr("IFLA_IFNAME")
        by_index[m["index"]] = name
        links[name] = {"index": m["index"], "up": bool(m["flags"] & 1),
                       "carrier": bool(m["flags"] & 0x10000), "mtu": m.get_attr("IFLA_MTU"),
                       "master": m.get_attr("IFLA_MASTER"), "mac": m.get_attr("IFLA_ADDRESS"),
                       "stp": _stp_state(m)}
    for info in links.values():
        info["master"] = by_index.get(info["master"]) if info["master"] else None
    addrs: dict[str, list[Addr]] = {}
    for m in addrs_raw:
        ip = m.get_attr("IFA_LOCAL") or m.get_attr("IFA_ADDRESS")
        name = by_index.get(m["index"], str(m["index"]))
        flags = m.get_attr("IFA_FLAGS")
        flags = m["flags"] if flags is None else flags
        if ip and not ip.startswith("fe80:"):  # link-local: the kernel's own
            addrs.setdefault(name, []).append(
                Addr(f"{ip}/{m['prefixlen']}", bool(flags & IFA_F_PERMANENT)))
    return Kernel(links, addrs, _routes(routes_raw, by_index), cookie, values)


def _stp_state(m: Any) -> bool | None:
    """Whether a bridge runs spanning tree (None: not a bridge)."""
    info = m.get_attr("IFLA_LINKINFO")
    if info is None or info.get_attr("IFLA_INFO_KIND") != "bridge":
        return None
    data = info.get_attr("IFLA_INFO_DATA")
    return None if data is None else bool(data.get_attr("IFLA_BR_STP_STATE"))


def _routes(raw: list[Any], by_index: dict[int, str]) -> list[Route]:
    routes = []
    for m in raw:
        if m["table"] != RT_TABLE_MAIN or (m["type"] != RTN_UNICAST
                                             and m["type"] not in RTN_NAMES):
            continue
        dst = m.get_attr("RTA_DST")
        fam6 = m["family"] == socket.AF_INET6
        if dst is None:
            to = "default6" if fam6 else "default"
        else:
            to = str(ipaddress.ip_network(f"{dst}/{m['dst_len']}", strict=False))
        if fam6 and to.startswith("fe80:"):
            continue
        oif = m.get_attr("RTA_OIF")
        gw = m.get_attr("RTA_GATEWAY")
        vias = (gw,) if gw else tuple(
            v for nh in (m.get_attr("RTA_MULTIPATH") or []) if (v := nh.get_attr("RTA_GATEWAY")))
        routes.append(Route(to, vias, by_index.get(oif) if oif else None, m["proto"],
                            m["type"]))
    return routes


def _read_sysctl(key: str) -> str | None:
    from netlab.linux import sysctl

    try:
        return " ".join(sysctl.read_sysctl(key).split())
    except OSError:
        return None
