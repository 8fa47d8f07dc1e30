"""Link shaping in the kernel: tbf/netem qdiscs over netlink, nftables random loss.

Everything runs in this process: the thread steps into a node's namespace
(netlab.linux.netns.entered), opens a netlink socket there (pyroute2 IPRoute without netns=,
which would fork a helper and create missing namespaces) or an nftables context
(netlab.linux.nft, libnftables through ctypes), and steps back. Parameters come from tc.py.
Deploy (`apply_plan`) and `netlab link` (`apply_end`) take the same path: qdiscs are the
one thing netlab sends through pyroute2's encoder rather than netlab.linux.netlink (a few
messages per shaped end, not per object of the lab).

Where the kernel has no netem, loss is an nftables rule at the INGRESS of the receiving
end (a silent drop, as on a wire); delay and jitter are refused before anything is built.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from netlab.backends.kernel import tc
from netlab.compile import linkprops
from netlab.errors import NetlabError, Problem
from netlab.linux import kconfig
from netlab.linux import nft as driver
from netlab.linux.netns import CLONE_NEWNET, entered, setns, unshare
from netlab.plan.model import Plan, ShapingPlan, VethEnd
from netlab.topology.model import TopologyFile

_ENOENT, _EINVAL = 2, 22


class ShapingError(NetlabError):
    """The kernel cannot do what a link's properties ask."""


@contextmanager
def ipr_in(netns: str) -> Iterator[Any]:
    """An IPRoute whose socket lives in `netns`; use it inside the block (same thread)."""
    from pyroute2 import IPRoute

    with entered(netns):
        ipr = IPRoute()
        try:
            yield ipr
        finally:
            ipr.close()


def ifindex(ipr: Any, ifname: str, netns: str) -> int:
    found = ipr.link_lookup(ifname=ifname)
    if not found:
        raise NetlabError(f"no interface {ifname!r} in namespace {netns!r}")
    return int(found[0])


# -- nftables (netlab.linux.nft, the one driver), in a namespace ------------------------

def nft(netns: str, text: str, check: bool = True) -> tuple[int, str]:
    """Run an nft batch (or one command) in `netns`; return (rc, output)."""
    if not driver.available():
        raise ShapingError("random loss needs nftables (Debian: apt-get install nftables)")
    rc, out, err = driver.run(text, netns)
    if rc != 0 and check:
        raise ShapingError(f"nftables refused the loss rules in {netns}: {err.strip()}")
    return rc, out


# -- what the kernel can do --------------------------------------------------------------

@functools.cache
def netem_available() -> bool:
    """Whether the kernel has netem: its published config, else one try (cached)."""
    known = kconfig.config_option(kconfig.NETEM)
    return known if known is not None else _probe_netem()


def _probe_netem() -> bool:
    """Add netem to lo in a throwaway namespace, on a thread of its own that steps back
    out, so the namespace vanishes afterwards and nothing anyone sees is touched."""
    result: list[bool] = []

    def probe() -> None:
        from pyroute2 import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError

        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            unshare(CLONE_NEWNET)
            try:
                with IPRoute() as ipr:
                    # netem refuses to start without options, so give it a delay.
                    ipr.tc("add", "netem", 1, handle=tc.ROOT_HANDLE, delay=1000)
                result.append(True)
            except NetlinkError:
                result.append(False)  # ENOENT: the kernel knows no qdisc of that kind
            finally:
                setns(own, CLONE_NEWNET)
        finally:
            os.close(own)

    t = threading.Thread(target=probe, name="probe-netem")
    t.start()
    t.join()
    return bool(result and result[0])


def unsupported(plan: Plan) -> list[str]:
    """Link ends whose shaping this kernel cannot do, as 'netns:ifname (delay 20ms)'."""
    if netem_available():
        return []
    return [f"{e.netns}:{e.ifname} ({linkprops.describe(e.shaping)})"
            for v in plan.veths for e in (v.a, v.b) if linkprops.needs_netem(e.shaping)]


def netem_warnings(tf: TopologyFile) -> list[Problem]:
    """`validate`'s warning for delay/jitter where this machine's kernel may lack netem,
    from its published configuration only (no probe: validate needs no root); compile
    stays pure, and deploy refuses for certain (`problems`)."""
    paths = linkprops.netem_paths(tf)
    has = kconfig.config_option(kconfig.NETEM) if paths else True
    if has is True:
        return []
    lacks = "this machine's kernel lacks it" if has is False \
        else "deploy checks that the kernel has it"
    return [Problem(path, f"delay and jitter need the kernel's netem qdisc ({kconfig.NETEM});"
                    f" {lacks}, and deploy refuses the lab without it",
                    "deploy on a kernel with netem, or drop delay/jitter "
                    "(rate and loss work on every kernel)", "warning") for path in paths]


def problems(plan: Plan) -> list[str]:
    """For deploy's precheck (runs before anything is built): what this kernel cannot do."""
    out = []
    lossy = [e for v in plan.veths for e in (v.a, v.b) if e.shaping and e.shaping.loss_pct]
    if lossy and not netem_available() and not driver.available():
        out.append("random loss needs nftables (Debian: apt-get install nftables)")
    ends = unsupported(plan)
    if not ends:
        return out
    return out + [f"delay/jitter need the kernel's netem qdisc ({kconfig.NETEM}), which this"
                  f" kernel does not have; asked for on {', '.join(ends)}. Remove delay/jitter"
                  " (rate and loss work without netem) or deploy on a kernel with netem"]


def deploy_step(ctx: Any) -> None:
    """The backend's deploy phase "shaping" (netlab.backends.kernel.apply.PHASES), after wiring."""
    apply_plan(ctx.plan)


def check_supported(s: ShapingPlan | None) -> None:
    if linkprops.needs_netem(s) and not netem_available():
        raise ShapingError(f"delay and jitter need the kernel's netem qdisc ({kconfig.NETEM}),"
                           " which this kernel does not have; rate and loss work without it")


# -- applying ----------------------------------------------------------------------------

def apply_plan(plan: Plan) -> None:
    """Shape every link end of a deployed plan (links exist and are up). The backend's
    apply phase calls this after the wiring; what this kernel cannot do was refused by
    deploy's precheck (`problems`) before anything was built."""
    for v in plan.veths:
        for end, peer in ((v.a, v.b), (v.b, v.a)):
            if not linkprops.is_empty(end.shaping):
                apply_end(end, peer, end.shaping, fresh=True)


def apply_end(end: VethEnd, peer: VethEnd, s: ShapingPlan | None, fresh: bool = False) -> None:
    """Make `end`'s egress shaping exactly `s` (None: unshaped), replacing what was there.

    `fresh`: the link was just made, so there is nothing to remove first.
    """
    check_supported(s)
    netem = netem_available()
    mtu = end.mtu
    with ipr_in(end.netns) as ipr:
        index = ifindex(ipr, end.ifname, end.netns)
        if not fresh:
            _clear_root(ipr, index)
        for q in tc.qdiscs(s, mtu, netem):
            extra = {"parent": q.parent} if q.parent is not None else {"root": True}
            ipr.tc("add", q.kind, index, handle=q.handle, **extra, **q.options)
    loss = s.loss_pct if (s is not None and not netem) else None
    # The random drop for end's sending direction sits at the peer's ingress.
    if loss or (not fresh and _has_loss_table(peer.netns)):
        nft(peer.netns, tc.loss_ruleset(peer.ifname, loss))


def _clear_root(ipr: Any, index: int) -> None:
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        ipr.tc("del", index=index, handle=0, root=True)
    except NetlinkError as e:
        if e.code not in (_ENOENT, _EINVAL):  # nothing to delete: the default qdisc
            raise


def _has_loss_table(netns: str) -> bool:
    rc, _ = nft(netns, f"list table netdev {tc.LOSS_TABLE}", check=False)
    return rc == 0


# -- reading back ------------------------------------------------------------------------

def read_props(netns: str, ifname: str, peer: tuple[str, str] | None = None
               ) -> ShapingPlan | None:
    """The egress shaping the kernel applies to `ifname` in `netns`, or None.

    `peer` (netns, ifname) is the other end of the wire, where the nftables loss of this
    end's direction lives; without it only the qdiscs are read. For `netlab status`.
    """
    from pyroute2.netlink.rtnl.tcmsg.common import tick_in_usec

    rate = delay = jitter = loss = None
    with ipr_in(netns) as ipr:
        index = ifindex(ipr, ifname, netns)
        for msg in ipr.get_qdiscs(index):
            kind = msg.get_attr("TCA_KIND")
            opts = msg.get_attr("TCA_OPTIONS")
            if opts is None:
                continue
            if kind == "tbf":
                parms = opts.get_attr("TCA_TBF_PARMS")
                rate64 = opts.get_attr("TCA_TBF_RATE64")
                rate = int(rate64 or parms["rate"]) * 8
            elif kind == "netem":
                delay = _ticks_ms(opts["delay"], tick_in_usec)
                jitter = _ticks_ms(opts["jitter"], tick_in_usec)
                loss = round(opts["loss"] * 100 / 0xFFFFFFFF, 2) or None
    if peer is not None and loss is None:
        rc, out = nft(peer[0], f"list chain netdev {tc.LOSS_TABLE} "
                      f"{tc.loss_chain(peer[1])}", check=False)
        if rc == 0:
            loss = tc.parse_loss_rule(out)
    s = ShapingPlan(rate_bit=rate, delay_ms=delay, jitter_ms=jitter, loss_pct=loss)
    return None if linkprops.is_empty(s) else s


def _ticks_ms(ticks: int, tick_in_usec: float) -> float | None:
    return round(ticks / tick_in_usec / 1000, 3) or None
