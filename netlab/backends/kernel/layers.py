"""The host directories made in a node's upper layer before its overlays are mounted
(machine.py), "prepared".

Writing into a host directory through an overlay first copies that directory up, owned
as on the host. In a user namespace (rootless) the host's root and every other owner but
the user are unmapped, so that copy fails ("Value too large for defined data type"), and a host
directory the user may not enter (/etc/frr, frr:frr 0750) cannot even be looked into.
So, in both modes, every host directory on the way to one of the node's `files` is made
in the node's upper layer first, with the host's mode and group, owned by the node's
root (as netlab's files in it are: FRR's daemons run as root without CAP_DAC_OVERRIDE
and must read /etc/frr; the group keeps it open to FRR run by hand as `frr`), and so
are /var/tmp and the directories directly under it (FRR's crash logs go to /var/tmp/frr,
frr's 0700 on the host); in a user namespace also each directory directly under
/var/lib, /var/log, /var/cache and /var/spool (where daemons write: leases, logs; root
needs none there: its copy-up works). One the user may not enter or list becomes an
*opaque* directory there: the node sees only what netlab and the node write in it, never
the host's files (as a fresh tmpfs would, without a mount). A top-level one (/root,
0700) gets the node's own directory bound there instead of an overlay. What still fails
in a user namespace: changing a file the host already has (its copy-up); a `files` entry
for that path gives the node its own copy (docs/rootless.md).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netlab.plan.model import NodePlan

# Where daemons keep their state, prepared with each directory directly below (module
# docstring): in both modes, and in a user namespace only.
STATE_DIRS = ("/var/tmp",)
USERNS_STATE_DIRS = ("/var/lib", "/var/log", "/var/cache", "/var/spool")


@dataclass(frozen=True)
class Prepared:
    """A host directory made in a node's upper layer beforehand."""

    path: str
    st: os.stat_result
    opaque: bool  # the user may not list it: the node sees none of the host's files there


def _host_dir(path: str) -> Prepared | None:
    """The host's directory at `path` (None: missing, a link, not a directory)."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        return None
    return Prepared(path, st, not may_list(path))


def may_list(path: str) -> bool:
    """Whether the overlay (mounted by this user) can look into and list a host directory:
    search alone (an ACL's x) would let lookups through but not `ls`."""
    return os.access(path, os.R_OK | os.X_OK)


def state_dirs(tops: tuple[str, ...]) -> list[Prepared]:
    """`tops` and each directory directly below them, parents first."""
    out = []
    for top in tops:
        d = _host_dir(top)
        if d is None:
            continue
        out.append(d)
        if d.opaque:
            continue
        with contextlib.suppress(OSError), os.scandir(top) as entries:
            subs = [_host_dir(e.path) for e in entries if e.is_dir(follow_symlinks=False)]
            out += sorted((x for x in subs if x is not None), key=lambda x: x.path)
    return out


def file_dirs(node: NodePlan, fresh: Collection[str]) -> list[Prepared]:
    """The host's directories on the way to the node's files, below the top-level one,
    parents first. The walk stops at a missing one or a link (write_file makes or refuses
    it), and after one the user may not enter (made opaque: nothing of the host's below)."""
    out: dict[str, Prepared] = {}
    for f in node.files:
        parts = [p for p in f.path.split("/") if p][:-1]
        if not parts or "/" + parts[0] in fresh:
            continue
        d = "/" + parts[0]
        for part in parts[1:]:
            d += "/" + part
            got = out.get(d) or _host_dir(d)
            if got is None:
                break
            out[d] = got
            if got.opaque:
                break
    return list(out.values())
