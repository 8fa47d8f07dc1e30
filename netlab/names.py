"""Rules for names that come from topology files, the command line, the API and state.

Names become netns names, file names under /etc/netns and /run/netlab, and interface
names, so they are checked here once, before anything touches the system. Every check
matches the whole string (`fullmatch`: "abc\\n" is refused, which `re.match` with `$`
let through).
"""

from __future__ import annotations

import re

from netlab.errors import UsageError

LAB_NAME_MAX = 12
NODE_NAME_MAX = 15
IFNAME_MAX = 15  # IFNAMSIZ - 1
# A namespace is named "<prefix>-<node>" (or bare "<node>"); the prefix is a lab name.
NETNS_NAME_MAX = LAB_NAME_MAX + 1 + NODE_NAME_MAX

_NAME_RE = re.compile(r"[a-z][a-z0-9-]*")  # lab, prefix, node, switch, netns
_IFNAME_RE = re.compile(r"[a-z][a-z0-9_-]*")
_SYSCTL_KEY_RE = re.compile(r"net(\.[A-Za-z0-9_-]+)+")
RESERVED_IFNAMES = frozenset({"lo", "all", "default"})

LAB_NAME_RULE = (f"1 to {LAB_NAME_MAX} lowercase letters, digits and '-', starting with a"
                 " letter, e.g. natgw")

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


def _name_problem(kind: str, name: object, limit: int) -> str | None:
    if not isinstance(name, str):
        return f"{kind} is not a string ({type(name).__name__})"
    if not name:
        return f"{kind} is empty"
    if len(name) > limit:
        return f"{kind} {name!r} is {len(name)} characters; at most {limit} are allowed"
    if not _NAME_RE.fullmatch(name) or name.endswith("-"):
        return _charset_problem(kind, name, "lowercase letters, digits and '-', starting with a"
                                " letter")
    return None


def lab_name_problem(name: object) -> str | None:
    """Why `name` cannot be a lab name (or a netns prefix), or None if it can."""
    return _name_problem("lab name", name, LAB_NAME_MAX)


def node_name_problem(name: object) -> str | None:
    """Why `name` cannot name a node or switch, or None if it can."""
    return _name_problem("name", name, NODE_NAME_MAX)


def netns_name_problem(name: object) -> str | None:
    """Why `name` cannot be a lab's namespace name ("<prefix>-<node>" or "<node>")."""
    return _name_problem("namespace name", name, NETNS_NAME_MAX)


def ifname_problem(name: object) -> str | None:
    """Why `name` cannot be an interface name, or None if it can."""
    if not isinstance(name, str):
        return f"interface name is not a string ({type(name).__name__})"
    if not name:
        return "interface name is empty"
    if len(name) > IFNAME_MAX:
        return (
            f"interface name {name!r} is {len(name)} characters;"
            f" Linux allows at most {IFNAME_MAX}"
        )
    if not _IFNAME_RE.fullmatch(name):
        return _charset_problem(
            "interface name", name,
            "lowercase letters, digits, '_' and '-', starting with a letter", _ALLOWED | {"_"},
        )
    if name in RESERVED_IFNAMES:
        return f"interface name {name!r} is reserved by Linux"
    return None


def sysctl_key_problem(key: object) -> str | None:
    """Why `key` cannot be a net.* sysctl netlab writes (it becomes a /proc/sys path)."""
    if not isinstance(key, str) or not _SYSCTL_KEY_RE.fullmatch(key) or len(key) > 200:
        return f"sysctl key {key!r} is not of the form net.a.b (letters, digits, '_', '-')"
    return None


# net.<family>.<group>.<interface>.<setting>: the sysctls that belong to one interface.
SYSCTL_PER_INTERFACE = frozenset({("ipv4", "conf"), ("ipv6", "conf"), ("ipv4", "neigh"),
                                  ("ipv6", "neigh")})
SYSCTL_NOT_INTERFACES = frozenset({"all", "default", "lo"})  # present in every namespace


def sysctl_interface(key: str) -> str | None:
    """The interface a sysctl key is about ('net.ipv6.conf.eth0.accept_ra' -> 'eth0'); None
    for a namespace-wide one (all, default, lo, or a key with no interface part)."""
    parts = key.split(".")
    if len(parts) >= 5 and parts[0] == "net" and (parts[1], parts[2]) in SYSCTL_PER_INTERFACE \
            and parts[3] not in SYSCTL_NOT_INTERFACES:
        return parts[3]
    return None


def check_lab_name(name: object, where: str = "") -> str:
    """`name` if it is a valid lab name; else a UsageError (exit 2) saying what is wrong
    and what a lab name looks like. `where` says where the name came from (e.g. a file's
    lab.name). Every entry point that takes a lab name goes through here (directly, or
    through netlab.state.store.lab_dir/resolve_lab/read_plan) before anything is read or removed."""
    why = lab_name_problem(name)
    if why is None:
        return name  # type: ignore[return-value]
    lead = f"{where}: " if where else ""
    raise UsageError(f"{lead}{why}. A lab name is {LAB_NAME_RULE}")

