"""Per-end MAC addresses (links[N].props[M].mac): checked once, read by the plan."""

from __future__ import annotations

import re

from netlab.errors import Problems
from netlab.topology.model import TopologyFile

MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")  # lowercase, colons (the kernel's form)


def mac_problem(text: str) -> str | None:
    """Why `text` cannot be an interface's MAC address (None: it can, lowercased)."""
    mac = text.lower()
    if not MAC.fullmatch(mac):
        return f"{text!r} is not a MAC address (six hex pairs separated by colons)"
    if int(mac[:2], 16) & 1:
        return f"{text} is a multicast address (the first byte is odd); an interface needs" \
            " a unicast one"
    if mac == "00:00:00:00:00:00":
        return f"{text} is the all-zero address, which no interface may have"
    return None


def link_mac(tf: TopologyFile, i: int, j: int) -> str | None:
    """The MAC address endpoint j of links[i] is given (props), lowercased; None when none
    is given or it is invalid (check_macs reported that)."""
    props = tf.links[i].props
    mac = props[j].mac if props is not None else None
    return None if mac is None or mac_problem(mac) is not None else mac.lower()


def check_macs(tf: TopologyFile, p: Problems) -> None:
    """Every per-end `mac`: a unicast address, and no two ends of the lab with the same."""
    first: dict[str, str] = {}  # mac -> key path of the end that has it first
    for i, link in enumerate(tf.links):
        for j, end in enumerate(link.props or ()):
            if end.mac is None:
                continue
            path = f"links[{i}].props[{j}].mac"
            if (why := mac_problem(end.mac)) is not None:
                p.error(path, why, 'write a locally administered unicast address such as'
                        ' "02:00:00:00:00:01" (second hex digit 2, 6, a or e)')
            elif (mac := end.mac.lower()) in first:
                p.error(path, f"MAC address {mac} is already given to {first[mac]}",
                        "give every interface its own MAC address")
            else:
                first[mac] = path
