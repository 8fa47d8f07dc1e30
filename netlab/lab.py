"""The Python API for running labs: deploy, attach, exec, status, links, capture, probes,
destroy.

    from netlab.lab import Lab
    with Lab.deploy("topologies/natgw.toml") as lab:
        print(lab.exec("pc1", ["ping", "-c1", "web"]).returncode)

A Lab is a thin handle on a deployed lab's plan and the backend that runs it
(netlab.backends); everything it does goes through that backend, so `Lab.attach()` from
another process works the same, and another backend needs no change here.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netlab.errors import UsageError

if TYPE_CHECKING:  # Plan too: `netlab check NAME` runs without pydantic (_plan_of imports it)
    from netlab.api import Topology
    from netlab.backends.base import Backend, EndState
    from netlab.plan.model import ExpectPlan, NodePlan, Plan, ShapingPlan
    from netlab.plan.wires import Side, Wire
    from netlab.probes.results import (
        CheckReport,
        PingallResult,
        PingResult,
        PortResult,
        TraceResult,
    )

OFF = ("off", "none")  # `link set --rate off`: remove that property


class Lab:
    def __init__(self, plan: Plan, backend: Backend | None = None):
        from netlab import backends
        from netlab.names import check_lab_name

        # A Plan may be built by hand: its name becomes paths, so it is checked here too.
        check_lab_name(plan.lab, "Plan.lab")
        self.plan = plan
        self.backend = backend if backend is not None else backends.for_plan(plan)
        self.deployed_at: float | None = None  # monotonic time of this object's deploy

    @property
    def name(self) -> str:
        return self.plan.lab

    def __repr__(self) -> str:
        return f"Lab({self.name!r})"

    # --- life cycle -------------------------------------------------------------------

    @classmethod
    def deploy(cls, topology: str | Path | Topology | Plan, force: bool = False,
               backend: Backend | None = None) -> Lab:
        """Build a lab from a topology file, a loaded Topology or a Plan (needs root)."""
        lab = cls(_plan_of(topology, backend), backend)
        lab.backend.deploy(lab.plan, force=force)
        lab.deployed_at = time.monotonic()  # check() lets the lab settle (probes/retry.py)
        return lab

    @classmethod
    def attach(cls, name: str | None = None, backend: Backend | None = None) -> Lab:
        """The deployed lab `name` (or the only deployed one)."""
        from netlab import backends

        b = backend if backend is not None else backends.get()
        lab = cls(b.plan(b.resolve(name)), b)
        # Deployed by another process moments ago (`netlab deploy X && netlab check X`):
        # its check lets the lab settle for what is left of the window, as deploy's own.
        if (wall := b.deployed_at(lab.name)) is not None:
            lab.deployed_at = time.monotonic() - max(0.0, time.time() - wall)
        return lab

    def destroy(self) -> Any:
        """Remove everything the lab created: the backend's report (destroy.Report), or
        None if it was not deployed (idempotent)."""
        return self.backend.destroy(self.name)

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def summary(self) -> str:
        """"3 nodes, 1 switch, 2 links, 4 namespaces"."""
        from netlab.errors import plural

        p = self.plan
        return ", ".join([plural(len(p.nodes), "node"), plural(len(p.switches), "switch"),
                          plural(len(p.veths), "link"), plural(len(p.namespaces), "namespace")])

    # --- looking and running ----------------------------------------------------------

    def status(self) -> Any:
        """The lab as the machine sees it (observe.LabStatus): .drift lists differences."""
        return self.backend.status(self.name)

    def exec(self, node: str, argv: list[str] | str, **kw: Any) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
        """Run argv in `node`, inside its private machine (as `netlab exec` does).

        Keyword arguments go to subprocess.run; by default output is captured as text.
        """
        if isinstance(argv, str):
            argv = ["/bin/sh", "-c", argv]
        kw.setdefault("capture_output", "stdout" not in kw and "stderr" not in kw)
        kw.setdefault("text", True)
        return self.backend.run(self.plan, self.node(node), list(argv), **kw)

    def nftables(self, node: str) -> str:
        """The node's whole nftables ruleset (as `nft list ruleset` prints it)."""
        return self.backend.nftables(self.plan, self.node(node))

    def load_nftables(self, node: str, ruleset: str) -> None:
        """Replace the node's whole nftables ruleset, atomically."""
        self.backend.load_nftables(self.plan, self.node(node), ruleset)

    def enter(self, name: str) -> None:
        """Move this (single-threaded) process into node or switch `name`, to exec a
        command there (`netlab exec`, `netlab shell`); a switch has only its network."""
        from netlab.errors import no_such_node

        known = [n.name for n in self.plan.nodes] + [s.name for s in self.plan.switches]
        if name not in known:
            raise UsageError(no_such_node(name, known, self.name, "node or switch", True))
        self.backend.enter(self.plan, name)

    def node(self, name: str) -> NodePlan:
        from netlab.errors import no_such_node

        try:
            return self.plan.node(name)
        except KeyError:
            known = [n.name for n in self.plan.nodes]
            raise UsageError(no_such_node(name, known, self.name, listed=True)) from None

    # --- live links ----------------------------------------------------------------------

    def wire(self, a: str, b: str) -> Wire:
        """The link between A and B (NODE, NODE:IFNAME or a switch)."""
        from netlab.plan import wires

        return wires.find(self.plan, a, b)

    def link_state(self, a: str, b: str) -> list[tuple[Side, EndState]]:
        """Each end of the link A-B with its state now (up, what it sends)."""
        w = self.wire(a, b)
        return list(zip((w.a, w.b), self.backend.link_state(self.plan, w), strict=True))

    def link_up(self, a: str, b: str, up: bool = True) -> Wire:
        """Take the link A-B up (restoring its ends' addresses and routes) or down."""
        w = self.wire(a, b)
        self.backend.set_link(self.plan, w, up)
        return w

    def link_set(self, a: str, b: str, values: dict[str, str | None], from_: str | None = None,
                 clear: bool = False) -> list[tuple[Side, ShapingPlan | None]]:
        """Change what the ends of A-B send. values: rate/delay/jitter/loss as text ("off"
        removes one, None keeps it); clear: start from no shaping; from_: only that end
        (its node or its label). Returns each changed end and its new shaping."""
        from netlab.compile import linkprops

        w = self.wire(a, b)
        if not clear and all(v is None for v in values.values()):
            raise UsageError("say what to set: --rate, --delay, --jitter, --loss or --clear")
        sides = [w.a, w.b]
        if from_ is not None:
            sides = [s for s in sides if from_ in (s.owner, s.label)]
            if not sides:
                raise UsageError(f"--from {from_}: not an end of {w.label}")
        new: dict[str, ShapingPlan | None] = {}
        for side in sides:
            current = None if clear else self.backend.shaping(self.plan, side.end)
            shaping, errors = linkprops.shaping(_merge(current, values))
            if errors:
                key, e = errors[0]
                raise UsageError(f"--{key}: {e}; {e.fix}")
            new[side.owner] = shaping
        self.backend.set_shaping(self.plan, w, new)
        return [(side, new[side.owner]) for side in sides]

    def capture(self, where: str, write: Path | None = None, count: int | None = None,
                bpf: str | None = None, echo: Callable[[str], None] = print,
                timeout: float | None = None, ready: Callable[[], None] | None = None) -> int:
        """Capture on NODE:IFNAME, SWITCH:PORT or SWITCH:br0 until `count` packets,
        `timeout` seconds or Ctrl-C: one line per packet to `echo`, or a pcap file
        `write`. `ready` is called once nothing more is missed. Returns packets seen."""
        from netlab.plan import wires
        from netlab.probes import capture as cap

        netns, ifname = wires.interface(self.plan, where)
        return cap.capture(netns, ifname, write=write, count=count, bpf=bpf, echo=echo,
                           timeout=timeout, ready=ready, backend=self.backend)

    # --- probes ------------------------------------------------------------------------
    # Thin wrappers over netlab.probes (docs/probes.md); keyword arguments pass through.

    def route(self, src: str, dst: str, family: int | None = None) -> tuple[str, str | None]:
        """(dst's address, the source address src would use for it, or None: no route)."""
        from netlab.probes import sockets, targets

        netns = targets.source_node(self.plan, src).netns
        address = targets.resolve(self.plan, dst, family).address
        try:
            return address, sockets.source_address(netns, address, self.backend)
        except sockets.NoRoute:
            return address, None

    def ping(self, src: str, dst: str, **kw: Any) -> PingResult:
        """ICMP echo from node `src` to `dst` (node, node:ifname or IP): .ok, .replies,
        .rtts, .loss. kw: count=3, interval=0.2, timeout=1.0, family=None (4 or 6),
        on_event (called with each reply or ICMP error as it comes)."""
        from netlab.probes import ping

        return ping(self.plan, src, dst, **kw)

    def probe(self, src: str, dst: str, proto: str, port: int, **kw: Any) -> PortResult:
        """One TCP SYN or UDP datagram: .state open/closed/filtered/... and .ok."""
        from netlab.probes import probe

        return probe(self.plan, src, dst, proto, port, **kw)

    def trace(self, src: str, dst: str, **kw: Any) -> TraceResult:
        from netlab.probes import trace

        return trace(self.plan, src, dst, **kw)

    def pingall(self, **kw: Any) -> PingallResult:
        from netlab.probes import pingall

        return pingall(self.plan, **kw)

    def check(self, expectations: list[ExpectPlan] | None = None, retry: float = 0.0,
              **kw: Any) -> CheckReport:
        """Run the lab's [[expect]] list (or `expectations`): per-expectation results
        (.ok, .failed, iterable). Each failing expectation is re-tried for its `within`
        (its own, else lab.within); those that need an answer also for `retry` seconds,
        and until 5 s after this Lab's deploy (a service starting, IPv6 DAD)."""
        from netlab.probes import check
        from netlab.probes.retry import settle_left

        return check(self.plan, expectations, settle=max(retry, settle_left(self.deployed_at)),
                     **kw)

    # --- end probes ------------------------------------------------------------------------


def _merge(current: ShapingPlan | None, values: dict[str, str | None]) -> dict[str, object]:
    """Current shaping as property text, with the given options replacing it ("off": none)."""
    from netlab.compile import linkprops

    out: dict[str, object] = {}
    if current is not None:
        if current.rate_bit:
            out["rate"] = linkprops.format_rate(current.rate_bit)
        if current.delay_ms:
            out["delay"] = linkprops.format_time(current.delay_ms)
        if current.jitter_ms:
            out["jitter"] = linkprops.format_time(current.jitter_ms)
        if current.loss_pct:
            out["loss"] = f"{current.loss_pct}%"
    for key, value in values.items():
        if value is None:
            continue
        if value.strip().lower() in OFF:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def _plan_of(topology: str | Path | Topology | Plan, backend: Backend | None) -> Plan:
    from netlab.plan.model import Plan

    if isinstance(topology, Plan):
        return topology
    if isinstance(topology, str | Path):
        from netlab.api import load

        return load(topology, backend).plan
    return topology.plan
