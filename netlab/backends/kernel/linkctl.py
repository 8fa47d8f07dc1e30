"""Runtime link control: take a wire down and up, change its shaping, read it back.

Links go up and down, and addresses and routes come back, through netlab.linux.netlink,
the layer deploy builds them with (requests packed in-process, in the node's namespace);
shaping goes through shaping.py, deploy's own path too.

Taking an interface down makes the kernel drop its routes (and its IPv6 addresses), and
bringing it up does not bring them back; so `up` restores the plan's addresses and routes
of the nodes at both ends (routes through links still down fail and are skipped: they come
back when those links do).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

from netlab.backends.kernel import shaping
from netlab.compile import linkprops
from netlab.errors import NetlabError
from netlab.linux import netlink
from netlab.linux.netns import entered
from netlab.plan.model import NodePlan, Plan, ShapingPlan
from netlab.plan.wires import Side, Wire
from netlab.state import linkstate


@contextlib.contextmanager
def _socket_in(netns: str) -> Iterator[socket.socket]:
    """A netlink socket of `netns` (opened inside; it stays bound there), closed after."""
    with entered(netns):
        sock = netlink.open_socket()
    try:
        yield sock
    finally:
        sock.close()


def _link(sock: socket.socket, netns: str, ifname: str) -> netlink.LinkInfo:
    link = netlink.get_link(sock, name=ifname)
    if link is None:
        raise NetlabError(f"no interface {ifname!r} in namespace {netns!r}")
    return link


def set_up(plan: Plan, wire: Wire, up: bool) -> None:
    """Admin state of both ends of `wire`; recorded in the lab's state directory."""
    for side in (wire.a, wire.b):
        netns, ifname = side.end.netns, side.end.ifname
        with _socket_in(netns) as sock:
            b = netlink.Batch(sock, netns)
            netlink.set_link_state(b, _link(sock, netns, ifname).index, ifname, up)
            b.flush()
        linkstate.record(plan.lab, side.end, down=not up)
    if up:
        for side in (wire.a, wire.b):
            node = _node(plan, side)
            if node is not None:
                restore(node)


def _node(plan: Plan, side: Side) -> NodePlan | None:
    return next((n for n in plan.nodes if n.netns == side.end.netns), None)


def restore(node: NodePlan) -> None:
    """Re-add the node's planned addresses and routes (idempotent: replace), the way
    deploy adds them (IPv6 without DAD)."""
    with _socket_in(node.netns) as sock:
        b = netlink.Batch(sock, node.netns)
        for iface in node.interfaces:
            index = netlink.link_index(sock, iface.name)
            if index is not None:
                for cidr in iface.addresses:
                    netlink.add_address(b, index, iface.name, cidr, replace=True)
        for r in node.routes:
            oif = (netlink.link_index(sock, r.dev) or 0) if r.dev else 0
            netlink.add_route(b, r.to, r.via, oif, r.dev, replace=True)
        # Some fail while an interface or next hop is still down: they return with it.
        with contextlib.suppress(netlink.NetlinkError):
            b.flush()


def set_shaping(plan: Plan, wire: Wire, new: dict[str, ShapingPlan | None]) -> None:
    """Apply new shaping to the ends named in `new` (by owner), and record it."""
    for side, peer in ((wire.a, wire.b), (wire.b, wire.a)):
        if side.owner in new:
            shaping.apply_end(side.end, peer.end, new[side.owner])
            linkstate.record(plan.lab, side.end, shaping=new[side.owner])


def is_up(netns: str, ifname: str) -> bool:
    with _socket_in(netns) as sock:
        return _link(sock, netns, ifname).up


def shaping_status(plan: Plan) -> dict[str, tuple[ShapingPlan | None, ShapingPlan | None]]:
    """'owner:ifname' -> (expected, in the kernel) for every end the plan or a runtime
    change shapes; for `netlab status`. Unshaped ends are not read, so a large lab with
    a few shaped links costs a few netlink round trips."""
    from netlab.plan.wires import all_wires

    recorded = linkstate.load(plan.lab)
    out: dict[str, tuple[ShapingPlan | None, ShapingPlan | None]] = {}
    for w in all_wires(plan):
        for side, peer in ((w.a, w.b), (w.b, w.a)):
            e = side.end
            if e.shaping is None and "shaping" not in recorded.get(linkstate.key(e), {}):
                continue
            expected = linkstate.shaping(plan.lab, e)
            actual = shaping.read_props(e.netns, e.ifname, (peer.end.netns, peer.end.ifname))
            out[side.label] = (expected, actual)
    return out


def status_extras(plan: Plan) -> tuple[dict[tuple[str, str], str], set[tuple[str, str]],
                                       list[str]]:
    """What `netlab status` adds for live links, in one call:

    - (netns, ifname) -> "rate 10mbit loss 1%" as the kernel shapes what it sends;
    - (netns, ifname) set down on purpose by `netlab link ... down` (not drift, and
      neither are the routes through them);
    - drift lines where the kernel's shaping differs from the plan + runtime changes.
    """
    from netlab.plan.wires import all_wires

    by_label = {s.label: s.end for w in all_wires(plan) for s in (w.a, w.b)}
    notes: dict[tuple[str, str], str] = {}
    drift: list[str] = []
    for label, (expected, actual) in shaping_status(plan).items():
        end = by_label[label]
        notes[(end.netns, end.ifname)] = linkprops.describe(actual)
        if expected != actual:
            drift.append(f"{label}: shaping is {linkprops.describe(actual) or 'none'}, "
                         f"expected {linkprops.describe(expected) or 'none'}")
    down: set[tuple[str, str]] = set()
    for key, change in linkstate.load(plan.lab).items():
        if change.get("down"):
            netns, _, ifname = key.rpartition(":")
            down.add((netns, ifname))
    return notes, down, drift
