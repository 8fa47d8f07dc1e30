"""Host-wide kernel limits a big probe burst can hit.

The neighbour (ARP/NDP) table is shared by every namespace on the host, and by default
holds 1024 entries (gc_thresh3); fresh entries are not reclaimed for 5 s. A full mesh of
50 hosts on one switch needs 2450 entries at once, so without this pingall would lose
most pairs to "neighbour table overflow" (and starve other labs). Like Mininet, we raise
the thresholds, never lower them; the sysctls exist only in the host's namespace.
"""

from __future__ import annotations

from pathlib import Path

_BASE = Path("/proc/sys/net")
# What Mininet sets too; far above any lab a 2-core host can run.
_TARGET = {"gc_thresh1": 4096, "gc_thresh2": 8192, "gc_thresh3": 16384}


def ensure_neighbour_capacity(entries: int) -> list[str]:
    """Raise host neighbour-table limits if `entries` new entries may not fit.

    Returns the sysctls changed (for a note to the user); quietly does nothing when they
    cannot be written (not root, or running inside a namespace without them).
    """
    changed: list[str] = []
    for fam in ("ipv4", "ipv6"):
        d = _BASE / fam / "neigh" / "default"
        try:
            thresh2 = int((d / "gc_thresh2").read_text())
        except (OSError, ValueError):
            continue
        if entries < thresh2 // 2:
            continue
        for key, value in _TARGET.items():
            path = d / key
            try:
                if int(path.read_text()) < value:
                    path.write_text(str(value))
                    changed.append(f"net.{fam}.neigh.default.{key}={value}")
            except (OSError, ValueError):
                pass
    return changed
