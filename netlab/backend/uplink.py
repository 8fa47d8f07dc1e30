"""The optional uplink: a veth between one node and the host's root namespace.

The node's side (address, default route, masquerade) is in the plan like any interface;
this module adds what lives on the host: the veth's host end and its address, IPv4
forwarding (its former value recorded so destroy restores it), and a masquerade table
netlab owns (`table ip netlab-<lab>`), removed at destroy.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING

from netlab import state
from netlab.backend import netlink, nft
from netlab.backend.namespaces import read_sysctl, write_sysctl
from netlab.state import Record, deployed_labs, lab_dir, read_record

if TYPE_CHECKING:
    from netlab.plan import Plan, UplinkPlan

FORWARD_KEY = "net.ipv4.ip_forward"


def table_name(lab: str) -> str:
    return f"netlab-{lab}"


def host_ruleset(lab: str, up: UplinkPlan) -> str:
    subnet = ipaddress.ip_interface(up.host_address).network
    return (
        f"table ip {table_name(lab)} {{\n"
        "\tchain postrouting {\n"
        "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
        f'\t\tip saddr {subnet} oifname != "{up.host_ifname}" masquerade\n'
        "\t}\n}\n"
    )


def conflicts(plan: Plan, root: socket.socket) -> list[str]:
    """Reasons the host cannot take this uplink (its interface name or subnet is taken)."""
    up = plan.uplink
    if up is None:
        return []
    out = []
    if netlink.link_index(root, up.host_ifname) is not None:
        out.append(f"the host already has an interface named {up.host_ifname!r}")
    subnet = ipaddress.ip_interface(up.host_address).network
    for msg in netlink.dump(root, "addrs"):
        addr = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
        with contextlib.suppress(ValueError):
            if addr and ipaddress.ip_address(addr) in subnet:
                out.append(f"the host already uses {addr}, inside uplink subnet {subnet}"
                           " (set uplink.subnet to a free /30)")
    return out


def former_forwarding(lab: str) -> str:
    """ip_forward as it was before any netlab uplink: taken over from a live lab if any."""
    for other in deployed_labs():
        if other == lab:
            continue
        for e in read_record(other).of("hostsysctl"):
            if e.get("key") == FORWARD_KEY:
                return str(e["old"])
    return read_sysctl(FORWARD_KEY)


def enable_host(plan: Plan, record: Record, root: socket.socket, index: int) -> None:
    """After the links exist: host address, forwarding, masquerade table."""
    up = plan.uplink
    assert up is not None
    b = netlink.Batch(root, "host")
    netlink.add_address(b, index, up.host_ifname, up.host_address)
    b.flush()
    with _forwarding_lock():
        record.add(kind="hostsysctl", key=FORWARD_KEY, old=former_forwarding(plan.lab))
        write_sysctl(FORWARD_KEY, "1")
    if up.masquerade:
        record.add(kind="hostnft", family="ip", table=table_name(plan.lab))
        nft.load(host_ruleset(plan.lab, up), None, f"the host (uplink of lab {plan.lab})")


def restore_forwarding(lab: str, old: str) -> None:
    """Put ip_forward back, unless another lab's uplink still needs forwarding."""
    with _forwarding_lock():
        # Marked released first: of two labs destroyed at once, the second to get here
        # must not wait for the first one's state directory to disappear.
        with contextlib.suppress(OSError):
            (lab_dir(lab) / RELEASED).touch()
        for other in deployed_labs():
            if other != lab and read_record(other).of("hostsysctl") and \
                    not (lab_dir(other) / RELEASED).exists():
                return
        with contextlib.suppress(OSError):
            write_sysctl(FORWARD_KEY, old)


RELEASED = "forwarding-released"


@contextlib.contextmanager
def _forwarding_lock() -> Iterator[None]:
    """One host-wide critical section around reading, setting and restoring ip_forward
    (flock on the run directory itself: no lock file is left behind)."""
    state.RUN_DIR.mkdir(parents=True, exist_ok=True)
    fd = os.open(state.RUN_DIR, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
