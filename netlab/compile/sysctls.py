"""A node's `sysctl` table, checked at validate: net.* names of plain form, plain values,
and per-interface names (net.ipv4.conf.eth0.rp_filter) only for the node's own
interfaces. Whether the kernel takes a value is the backend's preflight's question."""

from __future__ import annotations

import re

from netlab.errors import Problems, no_such_interface, one_of, toml_key
from netlab.names import SYSCTL_NOT_INTERFACES as _NOT_LINKS
from netlab.names import SYSCTL_PER_INTERFACE as _PER_INTERFACE
from netlab.names import sysctl_key_problem

_VALUE = re.compile(r"[A-Za-z0-9 _.:-]*")


def check(base: str, name: str, sysctl: dict[str, str | int], ifnames: set[str],
          problems: Problems) -> None:
    """Problems of node `name`'s sysctl table (at key path `base`, e.g. nodes.r1);
    `ifnames` are the interfaces the node will have (its links and uplink)."""
    for key, value in sysctl.items():
        path = f"{base}.sysctl.{toml_key(key)}"
        if sysctl_key_problem(key) is not None:
            problems.error(f"{base}.sysctl", f"{key!r} is not a network sysctl name",
                           'use a net.* name such as "net.ipv4.conf.all.rp_filter"')
            continue
        if not _VALUE.fullmatch(str(value)):
            problems.error(path, f"value {value!r} has characters a sysctl does not take",
                           "use a number or a plain word")
        parts = key.split(".")
        if tuple(parts[1:3]) not in _PER_INTERFACE or len(parts) < 4:
            continue
        dev = parts[3]
        if len(parts) == 4:
            problems.error(path, f"{key!r} names the directory of interface {dev}'s"
                           " settings, not a setting",
                           f'name the setting, e.g. "{key}.{_example(parts[2])}"')
        elif dev not in _NOT_LINKS and dev not in ifnames:
            problems.error(
                path, f"{key!r} is a setting of interface {dev!r}, but "
                + no_such_interface(name, dev, sorted(ifnames)),
                one_of([*sorted(ifnames), *sorted(_NOT_LINKS)]))


def _example(group: str) -> str:
    return "forwarding" if group == "conf" else "gc_stale_time"
