"""The optional uplink: a veth between one node and the host's root namespace.

The node's side (address, default route, masquerade) is in the plan like any interface;
this module adds what lives on the host: the veth's host end and its address, a table
netlab owns (`table ip netlab-<lab>`, removed at destroy) that keeps other labs' uplinks
out of this lab and masquerades its traffic, and IPv4 forwarding, held through the
host-wide record of host settings (hostsettings.py) so that the last lab to leave
restores it.

Isolation: the host end of every uplink is in one of two interface groups, "isolated"
(the default) or "open" (`uplink.isolated = false`). A lab's table drops what arrives
from another lab's uplink towards its host address (input) or its uplink (forward), and
what its own uplink sends towards another lab's uplink (forward): from and to any other
uplink when it is isolated, from and to isolated ones only when it is open. Each table
names only its own interface and the two groups, so the order labs deploy in does not
matter, and two labs reach each other only when both are open.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import TYPE_CHECKING, Any

from netlab.backends.kernel import hostsettings
from netlab.compile.firewall import identifier
from netlab.linux import netlink, nft
from netlab.names import ifname_problem
from netlab.state.journal import HostHoldEntry, HostNftEntry, Record

if TYPE_CHECKING:
    from netlab.plan.model import Plan, UplinkPlan

UPLINK_IFNAME_PREFIX = "nl-"
# Interface groups of uplink host ends ("nl" and 1 or 2: unlikely to be anyone else's).
GROUP_ISOLATED, GROUP_OPEN = 0x6E6C0001, 0x6E6C0002
_IFLA_GROUP = 27
_RTN_LOCAL, _RTN_BROADCAST, _RTN_ANYCAST = 2, 3, 4  # address routes of the local table


def table_name(lab: str) -> str:
    return identifier(f"netlab-{lab}")  # refused unless a plain nft name


def host_ruleset(lab: str, up: UplinkPlan) -> str:
    """The host table of the lab's uplink."""
    if ifname_problem(up.host_ifname) is not None or \
            not up.host_ifname.startswith(UPLINK_IFNAME_PREFIX):
        raise ValueError(f"bad uplink interface name {up.host_ifname!r}")  # plan tampered
    host, me = ipaddress.ip_interface(up.host_address), f'"{up.host_ifname}"'
    # Uplinks this lab is kept apart from: every other one, or only the isolated ones.
    apart = f"{{ {GROUP_ISOLATED}, {GROUP_OPEN} }}" if up.isolated else str(GROUP_ISOLATED)
    chains = [
        "\tchain input {\n"
        "\t\ttype filter hook input priority filter; policy accept;\n"
        f"\t\tiifgroup {apart} iifname != {me} ip daddr {host.ip} drop\n"
        "\t}\n",
        "\tchain forward {\n"
        "\t\ttype filter hook forward priority filter; policy accept;\n"
        f"\t\tiifgroup {apart} iifname != {me} oifname {me} drop\n"
        f"\t\tiifname {me} oifgroup {apart} oifname != {me} drop\n"
        "\t}\n",
    ]
    if up.masquerade:
        chains.append(
            "\tchain postrouting {\n"
            "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
            f'\t\tip saddr {host.network} oifname != "{up.host_ifname}" masquerade\n'
            "\t}\n")
    return f"table ip {table_name(lab)} {{\n" + "".join(chains) + "}\n"


def conflicts(plan: Plan, root: socket.socket) -> list[str]:
    """Reasons the host cannot take this uplink: its interface name or table is taken, or
    its subnet overlaps a route or an address of the host (other than a default route)."""
    up = plan.uplink
    if up is None:
        return []
    links = {int(m["index"]): m.get_attr("IFLA_IFNAME") for m in netlink.dump(root, "links")}
    out = []
    if up.host_ifname in links.values():
        out.append(f"the host already has an interface named {up.host_ifname!r}")
    if nft.host_table_exists("ip", table_name(plan.lab)):
        out.append(f"the host already has nft table ip {table_name(plan.lab)}")
    return out + overlaps(ipaddress.ip_interface(up.host_address).network,
                          netlink.dump(root, "addrs"), netlink.dump(root, "routes"), links)


def overlaps(subnet: ipaddress.IPv4Network, addrs: list[Any], routes: list[Any],
             links: dict[int, str | None]) -> list[str]:
    """What of the host's addresses and routes (netlink messages) overlaps `subnet`."""
    fix = " (set uplink.subnet to a /30 the host does not use)"
    out = []
    seen = set()  # (network, ifindex) of addresses: their prefix routes say nothing new
    for m in addrs:
        if m["family"] != socket.AF_INET:
            continue
        ip = m.get_attr("IFA_LOCAL") or m.get_attr("IFA_ADDRESS")
        net = ipaddress.ip_interface(f"{ip}/{m['prefixlen']}")
        if net.network.overlaps(subnet):
            seen.add((net.network, int(m["index"])))
            out.append(f"uplink subnet {subnet} overlaps the host's address {net} on"
                       f" {links.get(int(m['index']), m['index'])}{fix}")
    for m in routes:
        if m["family"] != socket.AF_INET or m["dst_len"] == 0 or \
                m["type"] in (_RTN_LOCAL, _RTN_BROADCAST, _RTN_ANYCAST):
            continue
        dst = ipaddress.ip_network(f"{m.get_attr('RTA_DST')}/{m['dst_len']}", strict=False)
        oif = m.get_attr("RTA_OIF")
        if dst.overlaps(subnet) and (dst, oif) not in seen:
            dev = f" dev {links.get(oif, oif)}" if oif else ""
            table = m.get_attr("RTA_TABLE") or m["table"]
            out.append(f"uplink subnet {subnet} overlaps the host's route {dst}{dev}"
                       f" (table {'main' if table == 254 else table}){fix}")
    return out


def enable_host(plan: Plan, record: Record, root: socket.socket, index: int) -> None:
    """After the links exist: host address, the lab's host table, then forwarding (only
    once the table keeps other labs out). Under the host-settings lock, so that two labs
    cannot both pass the overlap check and then both take overlapping subnets."""
    from netlab.backends.kernel.apply import ConflictError

    up = plan.uplink
    assert up is not None
    token = hostsettings.new_token()
    record.add(HostHoldEntry(kind="hosthold", need=hostsettings.FORWARDING, token=token))
    with hostsettings.session() as hs:
        assert hs is not None
        subnet = ipaddress.ip_interface(up.host_address).network
        addrs, routes = netlink.dump(root, "addrs"), netlink.dump(root, "routes")
        if overlaps(subnet, addrs, routes, {}):  # names looked up only for the message
            links = {int(m["index"]): m.get_attr("IFLA_IFNAME")
                     for m in netlink.dump(root, "links")}
            taken = overlaps(subnet, addrs, routes, links)
            raise ConflictError(f"cannot deploy lab {plan.lab!r} (what it had built was"
                                " removed):\n  - " + "\n  - ".join(taken))
        b = netlink.Batch(root, "host")
        group = GROUP_ISOLATED if up.isolated else GROUP_OPEN
        b.add(netlink.RTM_NEWLINK, 0, netlink.ifinfo(index)
              + netlink.attr_u32(_IFLA_GROUP, group), f"set {up.host_ifname} group {group}")
        netlink.add_address(b, index, up.host_ifname, up.host_address)
        b.flush()
        record.add(HostNftEntry(kind="hostnft", family="ip", table=table_name(plan.lab)))
        nft.load(host_ruleset(plan.lab, up), None, f"the host (uplink of lab {plan.lab})")
        hostsettings.hold_forwarding(hs, plan.lab, token, up.host_ifname, index)
