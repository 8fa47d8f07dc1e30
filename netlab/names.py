"""Rules for names that come from topology files.

Names become netns names, file names under /etc/netns and /run/netlab, and interface
names, so they are checked here once, before anything touches the system.
"""

from __future__ import annotations

import re

LAB_NAME_MAX = 12
NODE_NAME_MAX = 15
IFNAME_MAX = 15  # IFNAMSIZ - 1

_LAB_RE = re.compile(r"^[a-z][a-z0-9-]*$")
_NODE_RE = re.compile(r"^[a-z][a-z0-9-]*$")
_IFNAME_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
RESERVED_IFNAMES = frozenset({"lo", "all", "default"})


_ALLOWED = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def _charset_problem(kind: str, name: str, pattern: str, allowed: frozenset[str] = _ALLOWED) -> str:
    bad = sorted({c for c in name if c not in allowed and not c.isupper()})
    shown = (["capital letters"] if any(c.isupper() for c in name) else []) + [
        "spaces" if c == " " else repr(c) for c in bad]
    if shown:
        listed = ", ".join(shown[:-1]) + " and " + shown[-1] if len(shown) > 1 else shown[0]
        what = f"{kind} {name!r} contains {listed}"
    elif not name[0].isalpha():
        what = f"{kind} {name!r} does not start with a letter"
    else:
        what = f"{kind} {name!r} ends with '-'"
    return f"{what}; it may only contain {pattern} (it becomes a namespace, file or interface name)"


def lab_name_problem(name: str) -> str | None:
    """Why `name` cannot be a lab name (or a netns prefix), or None if it can."""
    if not name:
        return "lab name is empty"
    if len(name) > LAB_NAME_MAX:
        return f"lab name {name!r} is {len(name)} characters; at most {LAB_NAME_MAX} are allowed"
    if not _LAB_RE.match(name) or name.endswith("-"):
        return _charset_problem(
            "lab name", name, "lowercase letters, digits and '-', starting with a letter"
        )
    return None


def node_name_problem(name: str) -> str | None:
    """Why `name` cannot name a node or switch, or None if it can."""
    if not name:
        return "name is empty"
    if len(name) > NODE_NAME_MAX:
        return f"name {name!r} is {len(name)} characters; at most {NODE_NAME_MAX} are allowed"
    if not _NODE_RE.match(name) or name.endswith("-"):
        return _charset_problem(
            "name", name, "lowercase letters, digits and '-', starting with a letter"
        )
    return None


def ifname_problem(name: str) -> str | None:
    """Why `name` cannot be an interface name, or None if it can."""
    if not name:
        return "interface name is empty"
    if len(name) > IFNAME_MAX:
        return (
            f"interface name {name!r} is {len(name)} characters;"
            f" Linux allows at most {IFNAME_MAX}"
        )
    if not _IFNAME_RE.match(name):
        return _charset_problem(
            "interface name", name,
            "lowercase letters, digits, '_' and '-', starting with a letter", _ALLOWED | {"_"},
        )
    if name in RESERVED_IFNAMES:
        return f"interface name {name!r} is reserved by Linux"
    return None
