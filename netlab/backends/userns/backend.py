"""The rootless backend: the kernel backend, run as uid 0 of the user's own user namespace
(join.py puts the process there first), plus what cannot work without the host, said
before anything is built."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from netlab.backends.kernel.backend import KernelBackend

if TYPE_CHECKING:
    from netlab.errors import Problem
    from netlab.plan.model import Plan
    from netlab.topology.model import TopologyFile

# The kernel keeps these for the whole machine (the init network namespace only); a
# pingall burst of more new neighbour entries than gc_thresh3 would lose some.
_HOST_NEIGH = "net.ipv4.neigh.default.gc_thresh3"
_NEIGH_DEFAULT = 1024

UPLINK_MESSAGE = ("an uplink connects the lab to the host, and needs root: a veth end,"
                  " an address, routes and an nftables table in the host's own namespace,"
                  " and net.ipv4.ip_forward, a host sysctl; a lab deployed without root"
                  " lives in your own user namespace and cannot touch the host")
UPLINK_FIX = ("remove the [uplink] section to deploy without root, or deploy as root"
              " (sudo netlab deploy ...)")


def file_problems(plan: Plan) -> list[Problem]:
    """Files of the plan (a node's `files`, FRR's configuration) that go into a host
    directory the user may not enter, e.g. /etc/frr (frr:frr, 0750): in the user's
    namespace its owner is unmapped, only its "others" bits apply, and the node's overlay
    cannot look into it (machine.py). Said before anything is built, once per node and
    directory."""
    import os
    import stat

    from netlab.backends.kernel.machine import FRESH
    from netlab.errors import Problem

    out: list[Problem] = []
    for node in plan.nodes:
        seen: set[str] = set()
        for f in node.files:
            parts = f.path.strip("/").split("/")[:-1]
            if not parts or "/" + parts[0] in FRESH:
                continue  # the node's own fresh /tmp, /run
            d = ""
            for part in parts:
                d += "/" + part
                try:
                    st = os.stat(d)
                except OSError:
                    break  # not on the host: made in the node's own layer
                if not os.access(d, os.X_OK):
                    if d not in seen:
                        seen.add(d)
                        out.append(Problem(
                            f"nodes.{node.name}.files",
                            f"{f.path} cannot be written without root: {d} belongs to"
                            f" {_owner(st.st_uid)} (mode {stat.S_IMODE(st.st_mode):04o}),"
                            " which you may not enter",
                            "deploy this lab as root (sudo netlab deploy ...)"))
                    break
    return out


def _owner(uid: int) -> str:
    from netlab.errors import who
    from netlab.linux.userns import in_child_userns

    # Inside the user namespace every other owner shows as the overflow uid (nobody).
    return "another user" if uid == 65534 and in_child_userns() else who(uid)


class UsernsBackend(KernelBackend):
    """Kernel objects in the user's own namespaces (docs/rootless.md)."""

    name = "userns"

    def preflight(self, model: TopologyFile, plan: Plan | None = None) -> list[Problem]:
        from netlab.errors import Problem

        problems = []
        if model.uplink is not None:
            problems.append(Problem("uplink", UPLINK_MESSAGE, UPLINK_FIX))
        if plan is not None:
            problems += file_problems(plan)
        # Sysctls: the kernel backend's own check writes each into scratch namespaces;
        # run inside the user namespace, it finds those the kernel refuses there too.
        return problems + super().preflight(model, plan)

    def deploy(self, plan: Plan, force: bool = False) -> None:
        from netlab.errors import UsageError

        if plan.uplink is not None:  # preflight said so; a Plan given directly too
            raise UsageError(f"lab {plan.lab}: {UPLINK_MESSAGE}. Fix: {UPLINK_FIX}")
        super().deploy(plan, force)

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
