"""Which user namespace this process runs in, and who its uid 0 is on the host."""

from __future__ import annotations


def _uid_map() -> list[tuple[int, int, int]]:
    try:
        with open("/proc/self/uid_map") as f:
            return [(int(a), int(b), int(c)) for a, b, c in (line.split() for line in f)]
    except (OSError, ValueError):
        return [(0, 0, 4294967295)]


def in_child_userns() -> bool:
    """True inside a user namespace (rootless mode, backends/userns), where the machine's
    own root is someone else: trusted.* attributes, setgroups and mapping other ids are
    refused. The initial namespace maps every id to itself ("0 0 4294967295"). Not
    cached: a process may join one (backends/userns/join.py)."""
    return _uid_map() != [(0, 0, 4294967295)]


def root_is_host_root() -> bool:
    """Whether uid 0 here is the machine's root: in the initial namespace, or in a user
    namespace root made for itself (`netlab --rootless` run by root), where files of the
    host's root are still root's. False in a user's own namespace, where uid 0 is that
    user and can do nothing the user could not."""
    return any(inside == 0 and outside == 0 for inside, outside, _ in _uid_map())
