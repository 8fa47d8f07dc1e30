"""The seam between netlab's front door (Lab, the CLI, probes, status) and a machine that
runs labs. A backend takes a Plan and makes it real, says what it sees, and undoes it.

The kernel backend (backends/kernel/) does this as root with netlink in the host's
namespaces; a rootless backend (a user namespace per user) or a remote host is another
package implementing this protocol, registered in backends/__init__.py. Everything above
this line (probes, check, status, link verbs, the web view) talks to a Backend, never to
netlink, mounts or the state directory's layout.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import socket

    from netlab.plan.model import NodePlan, Plan, ShapingPlan, VethEnd
    from netlab.plan.wires import Wire
    from netlab.topology.model import TopologyFile


@dataclass
class EndState:
    """One end of a wire as the machine has it now: admin state and what it sends."""

    up: bool
    sends: ShapingPlan | None


@runtime_checkable
class Backend(Protocol):
    """What every backend provides. Lab names passed in are already validated."""

    name: str  # "kernel", ...

    # --- before anything is built ----------------------------------------------------
    def preflight(self, model: TopologyFile, plan: Plan | None = None) -> list[Any]:
        """Problems (netlab.errors.Problem, errors and warnings) this machine has with a
        topology: a link asking for delay on a kernel without netem, a sysctl value the
        kernel refuses. `plan` is the model's compiled plan (None: it did not compile).
        Changes nothing; `validate` and `deploy` show them (errors: exit 2)."""
        ...

    def built(self, plan: Plan) -> Plan:
        """The plan as this backend builds it (what `netlab plan` shows): the same plan,
        or one with what the backend does its own way (the rootless uplink's addresses)."""
        ...

    # --- life cycle --------------------------------------------------------------------
    def deploy(self, plan: Plan, force: bool = False) -> None: ...

    def destroy(self, lab: str) -> Any:
        """Undo everything the lab created: a report of what was removed, or None when
        there was nothing to destroy (idempotent)."""
        ...

    # --- what is deployed ----------------------------------------------------------------
    def labs(self, half_built: bool = False) -> list[str]:
        """Deployed labs, sorted; with half_built, also those without a saved plan
        (interrupted deploys: destroy --all removes them too)."""
        ...

    def resolve(self, lab: str | None) -> str:
        """The lab a verb acts on: `lab` (checked: a UsageError or LabNotFound if it is
        not deployed), or the only deployed one."""
        ...

    def plan(self, lab: str) -> Plan: ...

    def deployed_at(self, lab: str) -> float | None:
        """When the lab's deploy finished (time.time()), None if unknown: a check right
        after it lets the lab settle, as `deploy --check` does (probes/retry.py)."""
        ...

    def status(self, lab: str) -> Any:
        """The lab as the machine sees it, with drift from the plan (a LabStatus)."""
        ...

    # --- inside nodes --------------------------------------------------------------------
    def run(self, plan: Plan, node: NodePlan, argv: list[str],
            **kw: Any) -> subprocess.CompletedProcess[Any]:
        """subprocess.run(argv) inside the node, as `netlab exec` runs it."""
        ...

    def enter(self, plan: Plan, name: str) -> None:
        """Move the calling (single-threaded) process into node or switch `name`, for
        `exec` and `shell` to exec a command there: a node's network, UTS and /etc files;
        a switch's network namespace only (it has no others). Nothing changes if it
        cannot (NamespaceGone)."""
        ...

    def nftables(self, plan: Plan, node: NodePlan) -> str:
        """The node's whole nftables ruleset, as `nft list ruleset` prints it."""
        ...

    def load_nftables(self, plan: Plan, node: NodePlan, ruleset: str) -> None:
        """Replace the node's whole nftables ruleset with `ruleset`, atomically (nothing
        changes if it is refused: NetlabError with nft's reason)."""
        ...

    def open_socket(self, netns: str, family: int, type_: int, proto: int = 0) -> socket.socket:
        """A socket created inside the namespace `netns` (a NodePlan's or a switch's);
        it stays bound there. Probes and capture open every socket through this."""
        ...

    def raise_neighbour_limits(self, lab: str, entries: int, target: dict[str, int]
                               ) -> list[str]:
        """Make room for `entries` new neighbour (ARP/NDP) entries at once (a pingall
        burst), raising the limits to `target` (gc_thresh name -> value) for as long as
        `lab` is deployed; the settings changed. Never lowers a limit."""
        ...

    # --- live links ----------------------------------------------------------------------
    def set_link(self, plan: Plan, wire: Wire, up: bool) -> None:
        """Both ends of `wire` up or down (recorded: status tells it from drift)."""
        ...

    def set_shaping(self, plan: Plan, wire: Wire, new: dict[str, ShapingPlan | None]) -> None:
        """New shaping for the ends named in `new` (by Side.owner); None removes it."""
        ...

    def shaping(self, plan: Plan, end: VethEnd) -> ShapingPlan | None:
        """What netlab last set on `end` (a runtime change, else the plan's)."""
        ...

    def link_state(self, plan: Plan, wire: Wire) -> tuple[EndState, EndState]:
        """Ends a and b of `wire` as the machine has them now."""
        ...
