"""Host-wide kernel limits a big probe burst can hit.

The neighbour (ARP/NDP) table is shared by every namespace on the host, and by default
holds 1024 entries (gc_thresh3); fresh entries are not reclaimed for 5 s. A full mesh of
50 hosts on one switch needs 2450 entries at once, so without this pingall would lose
most pairs to "neighbour table overflow" (and starve other labs). Like Mininet, we raise
the thresholds, never lower them; the sysctls exist only in the host's namespace. They
stay raised while the lab is deployed (its entries are still there after pingall) and
come back to the host's own values when the last lab that needed them is destroyed
(netlab/backends/kernel/hostsettings.py).
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import TYPE_CHECKING

from netlab.errors import NetlabError

if TYPE_CHECKING:
    from netlab.plan.model import Plan

# What Mininet sets too; far above any lab a 2-core host can run.
_TARGET = {"gc_thresh1": 4096, "gc_thresh2": 8192, "gc_thresh3": 16384}


def ensure_neighbour_capacity(entries: int, lab: str) -> list[str]:
    """Raise host neighbour-table limits if `entries` new entries may not fit, for as long
    as `lab` is deployed.

    Returns the sysctls changed (for a note to the user); quietly does nothing when they
    cannot be written (not root, or running inside a namespace without them).
    """
    from netlab import backends

    try:
        return backends.get().raise_neighbour_limits(lab, entries, _TARGET)
    except NetlabError as e:  # e.g. a tampered record directory
        print(f"warning: neighbour-table limits left as they are: {e}", file=sys.stderr)
    except OSError:
        pass
    return []


def neighbour_entries(plan: Plan) -> int:
    """At most how many neighbour entries (per family) the lab's nodes need for each
    other: on each segment (a switch, or a node-to-node link) every interface may resolve
    every other one. For sizing a burst of many labs probed at once (`class grade`)."""
    ends = Counter(i.segment for n in plan.nodes for i in n.interfaces)
    return sum(k * (k - 1) for k in ends.values())
