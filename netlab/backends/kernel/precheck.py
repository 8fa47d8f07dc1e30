"""What deploy checks on this host before it builds anything: the lab's names (network
namespaces, /etc/netns entries, the uplink's interface, table and subnet) must be free,
and the tools it needs present. Any problem: ConflictError (exit 2), listing them all,
and nothing is built. (Whether the kernel takes the plan's values is checked earlier,
at validate: netlab.backends.kernel.preflight.)
"""

from __future__ import annotations

import os
import socket

from netlab.backends.kernel import files, shaping, uplink
from netlab.backends.kernel.phases import DeployError
from netlab.linux import nft, ownership
from netlab.linux.netns import netns_path
from netlab.plan.model import Plan
from netlab.state import layout
from netlab.state.journal import read_record
from netlab.state.layout import deployed_labs


class ConflictError(DeployError):
    """The lab's names are taken on this host: rejected before anything is built."""

    exit_code = 2


def precheck(plan: Plan, root: socket.socket) -> None:
    """Refuse before building anything: every name must be free, every tool present."""
    problems = []
    taken = [name for name in plan.namespaces if os.path.lexists(netns_path(name))]
    # Whose they are is read from every deployed lab's journal: only when some name is
    # taken (a class deploying 30 copies would otherwise read 1 + 2 + ... + 29 journals).
    owners = _netns_owners() if taken else {}
    for name in taken:
        owner = owners.get(name)
        whose = f"it belongs to netlab lab {owner!r}" if owner else \
            f"it is left from lab {plan.lab!r}, whose state is gone: `netlab destroy" \
            f" {plan.lab}` removes it" if _marked(netns_path(name), plan.lab) else \
            "it was not created by netlab, which never adopts namespaces"
        problems.append(f"network namespace {name!r} already exists ({whose});"
                        " remove it or set lab.prefix")
    for node in plan.nodes:
        if used := files.conflicts(node.netns, files.store_dir(str(layout.run_dir()), plan.lab)):
            problems.append(f"{', '.join(used)} already exist(s) (not written by netlab);"
                            " remove them or set lab.prefix")
    need_nft = [n.name for n in plan.nodes if n.nftables]
    if (need_nft or plan.uplink) and not nft.available():
        problems.append(nft.missing_nft_message(need_nft or [plan.uplink.node]))  # type: ignore[union-attr]
    problems += uplink.conflicts(plan, root)  # its name, table, subnet against the host's
    problems += shaping.problems(plan)  # delay/jitter without netem (issue 7)
    if problems:
        shown = problems[:8] + ([f"... and {len(problems) - 8} more"] if len(problems) > 8
                                else [])
        raise ConflictError(f"cannot deploy lab {plan.lab!r}; nothing was built:\n  - "
                          + "\n  - ".join(shown))


def _marked(path: str, lab: str) -> bool:
    """Whether the namespace at path carries this lab's marker (its state was lost)."""
    h = ownership.hold(path)
    if h is None:
        return False
    h.release()
    return ownership.marker_of_lab(h.marker, lab, os.path.basename(path), layout.run_tag())


def _netns_owners() -> dict[str, str]:
    out = {}
    for lab in deployed_labs():
        for e in read_record(lab).of("netns"):
            out[os.path.basename(e["path"])] = lab
    return out

