"""Interface MTUs: which key of the file sets each one, and IPv6's minimum (1280)."""

from __future__ import annotations

from netlab.compile import graph
from netlab.compile.context import Build
from netlab.errors import toml_key
from netlab.topology.endpoints import parse_endpoint
from netlab.topology.model import TopologyFile

# RFC 8200: IPv6 needs links of at least 1280 bytes; the kernel turns IPv6 off on a
# smaller device and adding an address to it then fails at deploy.
IPV6_MIN_MTU = 1280


def end_index(endpoints: list[str], name: str) -> int | None:
    """Which endpoint of a link names this node or switch (a link never joins one to itself).
    Only for links the graph accepted, whose endpoints all parse."""
    for j, text in enumerate(endpoints):
        if parse_endpoint(text).name == name:
            return j
    return None


def mtu(tf: TopologyFile, link_index: int, node: str | None, switch: str | None) -> int:
    """The MTU of one end of a link (the node's, or the switch port's)."""
    return source(tf, link_index, node, switch)[0]


def source(tf: TopologyFile, link_index: int, node: str | None,
           switch: str | None) -> tuple[int, str | None]:
    """(MTU, the key that sets it); the key path is built only on request (`key`)."""
    link = tf.links[link_index]
    if link.props is not None:
        end = end_index(link.endpoints, node or switch or "")
        if end is not None and link.props[end].mtu is not None:
            return link.props[end].mtu, f"links[{link_index}].props[{end}].mtu"  # type: ignore[return-value]
    if link.mtu is not None:
        return link.mtu, f"links[{link_index}].mtu"
    if node is not None and tf.nodes[node].mtu is not None:
        return tf.nodes[node].mtu, f"nodes.{toml_key(node)}.mtu"  # type: ignore[return-value]
    if switch is not None and tf.switches[switch].mtu is not None:
        return tf.switches[switch].mtu, f"switches.{toml_key(switch)}.mtu"  # type: ignore[return-value]
    return tf.defaults.mtu, "defaults.mtu"


def check_ipv6(b: Build) -> None:
    """An interface with an IPv6 address needs an MTU of at least 1280 (else deploy fails)."""
    small: dict[tuple[str, int], list[str]] = {}  # (key, mtu) -> node:ifname, in file order
    for name in b.tf.nodes:
        for ifname, i, _, _ in graph.interfaces(b.g, name):
            if not any(x.version == 6 for x in b.addr.addresses.get((name, ifname), ())):
                continue
            value, key = source(b.tf, i, name, None)
            if value < IPV6_MIN_MTU:
                small.setdefault((key, value), []).append(f"{name}:{ifname}")  # type: ignore[arg-type]
    for (key, value), ends in small.items():
        which = ", ".join(ends[:6]) + (f" and {len(ends) - 6} more" if len(ends) > 6 else "")
        b.problems.error(
            key, f"mtu {value} is too small for the IPv6 addresses of {which}: IPv6 needs"
            f" an MTU of at least {IPV6_MIN_MTU} (the kernel turns it off on a smaller link)",
            f"set {key} = {IPV6_MIN_MTU} or more, or give these interfaces no IPv6 address")
