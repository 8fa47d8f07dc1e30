"""The host-settings record's format (/run/netlab-host/settings.json, hostsettings.py):
what it holds, how it is checked when read back (it is untrusted input: every field is
checked, and what fails is dropped with the reason, never used), and its JSON text.

Two groups of sysctls (paths under /proc/sys/net):
- "forwarding", for uplinks: ipv4/ip_forward. Writing it makes the kernel
  (devinet.c, inet_forward_change) also set ipv4/conf/default/forwarding and the
  forwarding of every existing interface to the same value, and conf/all/accept_redirects
  to the opposite, so all of those are saved with it.
- "neigh", for pingall: {ipv4,ipv6}/neigh/default/gc_thresh{1,2,3}, which are host-wide.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field

from netlab.names import lab_name_problem

FORMAT = 1
FORWARDING, NEIGH = "forwarding", "neigh"
IP_FORWARD = "ipv4/ip_forward"
FORWARDING_FIXED = (IP_FORWARD, "ipv4/conf/default/forwarding",
                    "ipv4/conf/all/accept_redirects")
NEIGH_KEYS = tuple(f"{fam}/neigh/default/gc_thresh{n}" for fam in ("ipv4", "ipv6")
                   for n in (1, 2, 3))
IFACE_KEY = re.compile(r"ipv4/conf/([^/]+)/forwarding")
VALUE = re.compile(r"-?[0-9]{1,10}")
_TOKEN = re.compile(r"[0-9a-f]{32}")
_MAX_ITEMS = 1 << 16


@dataclass
class Holder:
    need: str
    run_dir: str
    lab: str
    token: str
    ifname: str | None = None  # a forwarding holder's uplink interface, to see it is alive
    ifindex: int | None = None


@dataclass
class Group:
    """Values of a group of sysctls netlab changed, as they were before it did."""

    values: dict[str, str]  # path under /proc/sys/net -> value
    ifindex: dict[str, int] = field(default_factory=dict)  # interface -> its ifindex then


@dataclass
class HostRecord:
    groups: dict[str, Group] = field(default_factory=dict)
    holders: list[Holder] = field(default_factory=list)


def parse(raw: object) -> tuple[HostRecord, list[str]]:
    """The record from its JSON value, keeping only what passes every check; and what was
    dropped, and why."""
    rec = HostRecord()
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        return rec, ["not a netlab host-settings record of format 1; starting a new one"
                     " (settings saved in it cannot be restored)"]
    problems: list[str] = []
    groups = raw.get("groups")
    for name, g in (groups.items() if isinstance(groups, dict) else ()):
        if name not in (FORWARDING, NEIGH) or not isinstance(g, dict):
            problems.append(f"group {str(name)[:40]!r}: unknown or not an object; dropped")
            continue
        values, ifindex = g.get("values"), g.get("ifindex", {})
        if not isinstance(values, dict) or not isinstance(ifindex, dict) or \
                len(values) > _MAX_ITEMS or len(ifindex) > _MAX_ITEMS:
            problems.append(f"group {name}: values malformed; dropped")
            continue
        kept = Group({}, {})
        for k, v in values.items():
            if _key_ok(name, k) and isinstance(v, str) and VALUE.fullmatch(v):
                kept.values[k] = v
            else:
                problems.append(f"group {name}: {str(k)[:60]!r} = {str(v)[:20]!r} is not a"
                                " setting netlab saves; dropped")
        for k, v in ifindex.items():
            if ifname_ok(k) and _index_ok(v):
                kept.ifindex[k] = v
            else:
                problems.append(f"group {name}: interface {str(k)[:20]!r}: bad ifindex; dropped")
        rec.groups[name] = kept
    holders = raw.get("holders")
    for h in (holders if isinstance(holders, list) else [])[:_MAX_ITEMS]:
        why = _holder_problem(h) if isinstance(h, dict) else "not an object"
        if why is None:
            rec.holders.append(Holder(h["need"], h["run_dir"], h["lab"], h["token"],
                                      h.get("ifname"), h.get("ifindex")))
        else:
            problems.append(f"holder {str(h)[:80]}: {why}; dropped")
    return rec, problems


def _key_ok(group: str, key: object) -> bool:
    if not isinstance(key, str):
        return False
    if group == NEIGH:
        return key in NEIGH_KEYS
    if key in FORWARDING_FIXED:
        return True
    m = IFACE_KEY.fullmatch(key)
    return m is not None and ifname_ok(m.group(1)) and m.group(1) not in ("all", "default")


def ifname_ok(name: object) -> bool:
    """A name the kernel could give an interface (dev_valid_name), in printable ASCII."""
    return isinstance(name, str) and 0 < len(name) <= 15 and name not in (".", "..") and \
        all("!" <= c <= "~" and c not in "/:" for c in name)


def _index_ok(v: object) -> bool:
    return type(v) is int and 0 < v < 1 << 31


def _holder_problem(h: dict[str, object]) -> str | None:
    need, rd, lab, token = h.get("need"), h.get("run_dir"), h.get("lab"), h.get("token")
    if need not in (FORWARDING, NEIGH):
        return "unknown need"
    if not isinstance(lab, str) or lab_name_problem(lab) is not None:
        return "bad lab name"
    if not isinstance(rd, str) or not rd.startswith("/") or len(rd) > 1024 or \
            os.path.normpath(rd) != rd or not rd.isprintable():
        return "bad run directory"
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        return "bad token"
    ifname, ifindex = h.get("ifname"), h.get("ifindex")
    if (ifname is None) != (ifindex is None) or \
            (ifname is not None and not (ifname_ok(ifname) and _index_ok(ifindex))):
        return "bad interface"
    return None


def dumps(rec: HostRecord) -> str:
    """The record's JSON text."""
    return json.dumps({"format": FORMAT,
                       "groups": {k: asdict(g) for k, g in sorted(rec.groups.items())},
                       "holders": [asdict(h) for h in rec.holders]}, indent=1)
