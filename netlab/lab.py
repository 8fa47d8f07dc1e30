"""The Python API for running labs: deploy, attach, exec, status, destroy.

    from netlab.lab import Lab
    with Lab.deploy("topologies/natgw.toml") as lab:
        print(lab.exec("pc1", ["ping", "-c1", "web"]).returncode)

A Lab is a thin handle on a deployed lab's name and plan; everything it does reads the
state directory and the kernel, so `Lab.attach()` from another process works the same.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netlab.errors import UsageError
from netlab.plan.model import Plan

if TYPE_CHECKING:
    from netlab.api import Topology
    from netlab.backends.kernel.destroy import Report
    from netlab.backends.kernel.observe import LabStatus
    from netlab.probes.results import (
        CheckReport,
        PingallResult,
        PingResult,
        PortResult,
        TraceResult,
    )


class Lab:
    def __init__(self, plan: Plan):
        from netlab.names import check_lab_name

        # A Plan may be built by hand: its name becomes paths, so it is checked here too.
        check_lab_name(plan.lab, "Plan.lab")
        self.plan = plan

    @property
    def name(self) -> str:
        return self.plan.lab

    def __repr__(self) -> str:
        return f"Lab({self.name!r})"

    # --- life cycle -------------------------------------------------------------------

    @classmethod
    def deploy(cls, topology: str | Path | Topology | Plan, force: bool = False) -> Lab:
        """Build a lab from a topology file, a loaded Topology or a Plan (needs root)."""
        from netlab.backends.kernel.apply import deploy

        plan = _plan_of(topology)
        deploy(plan, force=force)
        return cls(plan)

    @classmethod
    def attach(cls, name: str | None = None) -> Lab:
        """The deployed lab `name` (or the only deployed one)."""
        from netlab.state.store import read_plan, resolve_lab

        return cls(read_plan(resolve_lab(name)))

    def destroy(self) -> Report | None:
        """Remove everything the lab created; None if it was not deployed (idempotent)."""
        from netlab.backends.kernel.destroy import destroy_lab

        return destroy_lab(self.name)

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    # --- looking and running ----------------------------------------------------------

    def status(self) -> LabStatus:
        from netlab.backends.kernel.observe import lab_status

        return lab_status(self.name)

    def exec(self, node: str, argv: list[str] | str, **kw: Any) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
        """Run argv in `node` (its network, UTS and /etc/netns files, like `ip netns exec`).

        Keyword arguments go to subprocess.run; by default output is captured as text.
        """
        from netlab.backends.kernel.procs import run_in_node

        if isinstance(argv, str):
            argv = ["/bin/sh", "-c", argv]
        kw.setdefault("capture_output", "stdout" not in kw and "stderr" not in kw)
        kw.setdefault("text", True)
        return run_in_node(self.name, self.node(node), list(argv), **kw)

    def node(self, name: str):  # type: ignore[no-untyped-def]
        try:
            return self.plan.node(name)
        except KeyError:
            names = ", ".join(n.name for n in self.plan.nodes)
            raise UsageError(f"lab {self.name!r} has no node {name!r} (nodes: {names})") from None

    # --- probes ------------------------------------------------------------------------
    # Thin wrappers over netlab.probes (docs/probes.md); keyword arguments pass through.

    def ping(self, src: str, dst: str, **kw: Any) -> PingResult:
        """ICMP echo from node `src` to `dst` (node, node:ifname or IP): .ok, .replies,
        .rtts, .loss. kw: count=3, interval=0.2, timeout=1.0, family=None (4 or 6)."""
        from netlab.probes import ping

        self.node(src)
        return ping(self.plan, src, dst, **kw)

    def probe(self, src: str, dst: str, proto: str, port: int, **kw: Any) -> PortResult:
        """One TCP SYN or UDP datagram: .state open/closed/filtered/... and .ok."""
        from netlab.probes import probe

        self.node(src)
        return probe(self.plan, src, dst, proto, port, **kw)

    def trace(self, src: str, dst: str, **kw: Any) -> TraceResult:
        from netlab.probes import trace

        self.node(src)
        return trace(self.plan, src, dst, **kw)

    def pingall(self, **kw: Any) -> PingallResult:
        from netlab.probes import pingall

        return pingall(self.plan, **kw)

    def check(self, **kw: Any) -> CheckReport:
        """Run the lab's [[expect]] list: per-expectation results (.ok, .failed, iterable)."""
        from netlab.probes import check

        return check(self.plan, **kw)

    # --- end probes ------------------------------------------------------------------------


def _plan_of(topology: str | Path | Topology | Plan) -> Plan:
    if isinstance(topology, Plan):
        return topology
    if isinstance(topology, str | Path):
        from netlab.api import load

        return load(topology).plan
    return topology.plan
