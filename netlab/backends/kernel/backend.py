"""The kernel backend as one object: base.Backend over the modules beside it.

Each method delegates to the module that does the work (apply, destroy, observe, procs,
linkctl, shaping; the state store); nothing here knows netlink or the state layout.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from typing import TYPE_CHECKING, Any

from netlab.backends.base import EndState

if TYPE_CHECKING:
    from netlab.backends.kernel.destroy import Report
    from netlab.backends.kernel.observe import LabStatus
    from netlab.errors import Problem
    from netlab.plan.model import NodePlan, Plan, ShapingPlan, VethEnd
    from netlab.plan.wires import Wire
    from netlab.topology.model import TopologyFile


class KernelBackend:
    """Root, netlink, network namespaces in /run/netns (docs/backend.md)."""

    name = "kernel"

    def built(self, plan: Plan) -> Plan:
        return plan

    def preflight(self, model: TopologyFile, plan: Plan | None = None) -> list[Problem]:
        from netlab.backends.kernel.machine import problems as machine_problems
        from netlab.backends.kernel.preflight import frr_problems, sysctl_problems
        from netlab.backends.kernel.shaping import netem_warnings
        from netlab.errors import Problem

        # Sysctl values are tried on the compiled plan (a model that does not compile has
        # its own errors to fix first).
        if plan is None:
            return netem_warnings(model) + frr_problems(model)
        files = [Problem(f"nodes.{node}.files", message, fix)
                 for node, message, fix in machine_problems(plan.nodes)]
        return netem_warnings(model) + frr_problems(model) + sysctl_problems(plan) + files

    def deploy(self, plan: Plan, force: bool = False) -> None:
        from netlab.backends.kernel.apply import deploy

        deploy(plan, force=force)

    def destroy(self, lab: str) -> Report | None:
        from netlab.backends.kernel.destroy import destroy_lab

        return destroy_lab(lab)

    def labs(self, half_built: bool = False) -> list[str]:
        from netlab.state.layout import deployed_labs, list_labs

        return deployed_labs() if half_built else list_labs()

    def resolve(self, lab: str | None) -> str:
        from netlab.state.plans import resolve_lab

        return resolve_lab(lab)

    def plan(self, lab: str) -> Plan:
        from netlab.state.plans import read_plan

        return read_plan(lab)

    def deployed_at(self, lab: str) -> float | None:
        from netlab.state.plans import deployed_at

        return deployed_at(lab)

    def status(self, lab: str) -> LabStatus:
        from netlab.backends.kernel.observe import lab_status

        return lab_status(lab)

    def run(self, plan: Plan, node: NodePlan, argv: list[str],
            **kw: Any) -> subprocess.CompletedProcess[Any]:
        from netlab.backends.kernel.procs import run_in_node

        return run_in_node(plan.lab, node, argv, **kw)

    def enter(self, plan: Plan, name: str) -> None:
        from netlab.backends.kernel.procs import enter_node

        switch = next((s for s in plan.switches if s.name == name), None)
        if switch is None:
            enter_node(plan.lab, plan.node(name))
        else:
            _enter_netns(switch.netns)

    def nftables(self, plan: Plan, node: NodePlan) -> str:
        from netlab.linux import nft

        rc, out, err = nft.run("list ruleset", node.netns)
        if rc != 0:
            raise nft.NftError(f"node {node.name}: cannot list its nftables ruleset: {err}")
        return out

    def load_nftables(self, plan: Plan, node: NodePlan, ruleset: str) -> None:
        from netlab.linux import nft

        nft.load("flush ruleset\n" + ruleset, node.netns, f"node {node.name}")

    def open_socket(self, netns: str, family: int, type_: int, proto: int = 0) -> socket.socket:
        from netlab.linux.netns import entered

        with entered(netns):
            return socket.socket(family, type_, proto)

    def raise_neighbour_limits(self, lab: str, entries: int, target: dict[str, int]
                               ) -> list[str]:
        from netlab.backends.kernel.hostsettings import raise_neighbour_limits

        return raise_neighbour_limits(lab, entries, target)

    def set_link(self, plan: Plan, wire: Wire, up: bool) -> None:
        from netlab.backends.kernel import linkctl

        linkctl.set_up(plan, wire, up)

    def set_shaping(self, plan: Plan, wire: Wire, new: dict[str, ShapingPlan | None]) -> None:
        from netlab.backends.kernel import linkctl

        linkctl.set_shaping(plan, wire, new)

    def shaping(self, plan: Plan, end: VethEnd) -> ShapingPlan | None:
        from netlab.state import linkstate

        return linkstate.shaping(plan.lab, end)

    def link_state(self, plan: Plan, wire: Wire) -> tuple[EndState, EndState]:
        from netlab.backends.kernel import linkctl, shaping

        def end(e: VethEnd, peer: VethEnd) -> EndState:
            return EndState(linkctl.is_up(e.netns, e.ifname),
                            shaping.read_props(e.netns, e.ifname, (peer.netns, peer.ifname)))

        return end(wire.a.end, wire.b.end), end(wire.b.end, wire.a.end)


def _enter_netns(netns: str) -> None:
    """Move this (single-threaded) process into a switch's network namespace, with a
    private mount namespace whose /sys shows its interfaces, as a node's (procs.NodeNs):
    a switch has no UTS namespace nor /etc files of its own."""
    from netlab.linux.mounts import MNT_DETACH, MS_REC, MS_SLAVE, mount, umount2
    from netlab.linux.netns import CLONE_NEWNET, CLONE_NEWNS, netns_path, open_ns, setns, unshare

    fd = open_ns(netns_path(netns), CLONE_NEWNET)  # NamespaceGone: nothing changed
    try:
        setns(fd, CLONE_NEWNET)
    finally:
        os.close(fd)
    unshare(CLONE_NEWNS)
    mount("", "/", None, MS_SLAVE | MS_REC)  # our /sys mount stays ours
    ro = os.statvfs("/sys").f_flag & os.ST_RDONLY
    with contextlib.suppress(OSError):
        umount2("/sys", MNT_DETACH)
        mount(netns, "/sys", "sysfs", 1 if ro else 0)  # MS_RDONLY
