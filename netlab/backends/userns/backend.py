"""The rootless backend: the kernel backend, run as uid 0 of the user's own user namespace
(join.py puts the process there first), plus what cannot work without the host, said
before anything is built."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from netlab.backends.kernel.backend import KernelBackend

if TYPE_CHECKING:
    from netlab.backends.kernel.observe import LabStatus
    from netlab.errors import Problem
    from netlab.plan.model import Plan
    from netlab.topology.model import TopologyFile

# The kernel keeps these for the whole machine (the init network namespace only); a
# pingall burst of more new neighbour entries than gc_thresh3 would lose some.
_HOST_NEIGH = "net.ipv4.neigh.default.gc_thresh3"
_NEIGH_DEFAULT = 1024


def cap_problems(plan: Plan) -> list[Problem]:
    """A student's caps on labs and namespaces (the machine's NETLAB_MAX_LABS_PER_USER,
    NETLAB_MAX_NAMESPACES_PER_USER; classroom/limits.py), said before anything is built;
    a redeploy of the same lab replaces it and is not counted twice."""
    from netlab.classroom import limits
    from netlab.errors import Problem, UsageError

    try:
        limits.check(limits.Caps.defaults(), 1, len(plan.namespaces), replacing=plan.lab,
                     options=False)
    except UsageError as e:
        return [Problem("lab", str(e), "destroy a lab you no longer need (netlab list,"
                        " then netlab destroy NAME), or ask your teacher for a higher cap")]
    return []


class UsernsBackend(KernelBackend):
    """Kernel objects in the user's own namespaces (docs/rootless.md)."""

    name = "userns"

    def built(self, plan: Plan) -> Plan:
        """The uplink as slirp4netns makes it (uplink.rootless_plan)."""
        from netlab.backends.userns import uplink

        return uplink.rootless_plan(plan)

    def preflight(self, model: TopologyFile, plan: Plan | None = None) -> list[Problem]:
        from netlab.backends.userns import uplink

        problems: list[Problem] = uplink.problems(model, plan)  # slirp4netns (uplink.py)
        if plan is not None:
            problems += cap_problems(plan)
        # Sysctls: the kernel backend's own check writes each into scratch namespaces;
        # run inside the user namespace, it finds those the kernel refuses there too.
        return problems + super().preflight(model, plan)

    def deploy(self, plan: Plan, force: bool = False) -> None:
        if plan.uplink is None:
            super().deploy(plan, force)
            return
        # The uplink is slirp4netns's tap, made once the node exists (uplink.py).
        from netlab.backends.kernel.phases import DeployError
        from netlab.backends.userns import uplink

        plan = uplink.rootless_plan(plan)
        super().deploy(uplink.inner_plan(plan), force)
        try:
            uplink.attach(plan)
        except BaseException as e:  # Ctrl-C too: no lab is left half made
            try:
                self.destroy(plan.lab)
                note = "nothing was built (this deploy removed everything it had made)"
            except Exception as d:  # noqa: BLE001  (said, with what to do)
                note = f"removing the lab failed too ({d}): `netlab destroy {plan.lab}`"
            if not isinstance(e, (uplink.UplinkError, OSError)):
                raise
            why = e if isinstance(e, uplink.UplinkError) else (e.strerror or e)
            raise DeployError(f"cannot deploy lab {plan.lab!r}: its uplink"
                              f" ({uplink.HELPER}): {why}; {note}") from None

    def status(self, lab: str) -> LabStatus:
        """As the kernel backend's, except the uplink: its "host end" is slirp4netns,
        outside the user's namespaces; the keeper (a process of the node) stands for it."""
        from netlab.backends.userns import uplink

        st = super().status(lab)
        up = self.plan(lab).uplink
        if up is None or up.host_ifname != uplink.HOST_IFNAME:
            return st
        st.nodes = [n for n in st.nodes if not (n.name == "host" and n.netns == "(host)")]
        st.drift = [d for d in st.drift if not d.startswith(f"host: uplink interface"
                                                           f" {up.host_ifname} ")
                    and not d.startswith(f"host: address {up.host_address} on ")]
        return st

    def raise_neighbour_limits(self, lab: str, entries: int, target: dict[str, int]
                               ) -> list[str]:
        """Nothing can be raised: the limits are the host's (visible and writable in the
        init network namespace only). Says so when a burst may exceed the default."""
        if entries > _NEIGH_DEFAULT // 2:
            want = target.get("gc_thresh3", entries * 2)
            print(f"warning: without root, the host's neighbour-table limits stay as they"
                  f" are ({entries} new entries at once; {_HOST_NEIGH} is {_NEIGH_DEFAULT}"
                  f" by default, shared by every namespace on the machine, and some"
                  f" replies may be lost). Fix (as root, once): sysctl -w"
                  f" {_HOST_NEIGH}={want}", file=sys.stderr)
        return []
