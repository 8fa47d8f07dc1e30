"""The journal of a deployed lab (created.jsonl): what deploy actually created, one JSON
object per line, appended as each object comes into existence, so that an interrupted
deploy can still be undone.

Entries are typed: one TypedDict per kind, whose fields carry their checks
(`Annotated[type, Field(check)]`). Those classes are the one schema: JOURNAL_SCHEMA is
derived from them, every line read back is checked against it (a line that fails is
skipped and reported in `Record.damaged`, never used), and every entry written must have
exactly its kind's fields (a field missing from the schema would be dropped when read
back, silently). Entries of kinds not listed are kept, untyped and inert: nothing acts on
kinds it does not know.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import (
    Annotated,
    Any,
    Literal,
    TypedDict,
    cast,
    get_args,
    get_type_hints,
    overload,
)

from netlab.linux.netns import NETNS_RUN_DIR
from netlab.names import ifname_problem, netns_name_problem, node_name_problem, sysctl_key_problem
from netlab.state.layout import (
    ETC_DIR,
    LOG_DIR,
    MNT_DIR,
    RECORD_FILE,
    UTS_DIR,
    lab_dir,
    read_state_file,
)

# --- field checks: (value, the lab's state directory) -> what is wrong, or None ----------

Check = Callable[[Any, Path], "str | None"]


@dataclass(frozen=True)
class Field:
    check: Check
    optional: bool = False  # may be missing or null (read back as None)


def _show(v: Any) -> str:
    text = repr(v)  # a damaged line may hold megabytes: say enough to find it
    return text if len(text) <= 60 else text[:57] + "..."


def _int(least: int) -> Check:
    def check(v: Any, d: Path) -> str | None:
        ok = type(v) is int and v >= least  # not bool, not "12"
        return None if ok else f"is {_show(v)}, not a whole number >= {least}"
    return check


def _text(v: Any, d: Path) -> str | None:
    return None if isinstance(v, str) else f"is {_show(v)}, not a string"


def _name(problem: Callable[[Any], str | None]) -> Check:
    return lambda v, d: problem(v)


def _netns_file(v: Any, d: Path) -> str | None:
    """Exactly /run/netns/<namespace name>."""
    head, _, ns = v.rpartition("/") if isinstance(v, str) else ("", "", "")
    if head != NETNS_RUN_DIR or netns_name_problem(ns):
        return f"{_show(v)} is not {NETNS_RUN_DIR}/<namespace name>"
    return None


_COMPONENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _inside(sub: str, name_problem: Callable[[str], str | None] | None = None) -> Check:
    """A file directly in the lab's own directory `sub` (uts, logs, etc)."""
    def check(v: Any, d: Path) -> str | None:
        head, _, base = v.rpartition("/") if isinstance(v, str) else ("", "", "")
        ok = head == str(d / sub) and _COMPONENT.fullmatch(base) is not None and \
            (name_problem is None or name_problem(base) is None)
        return None if ok else f"{_show(v)} is not a file in {d / sub}"
    return check


def _log_name(base: str) -> str | None:
    node, dot, ext = base.rpartition(".")
    return None if dot and ext == "log" and not node_name_problem(node) else "bad log name"


def _one_of(*allowed: str) -> Check:
    return lambda v, d: None if v in allowed else f"is {_show(v)}, not one of {', '.join(allowed)}"


def _host_table(v: Any, d: Path) -> str | None:
    ok = isinstance(v, str) and re.fullmatch(rf"netlab-{re.escape(d.name)}(-[a-z0-9-]+)?", v)
    return None if ok else f"{_show(v)} is not an nft table of lab {d.name}"


def _sysctl_value(v: Any, d: Path) -> str | None:
    ok = isinstance(v, str) and re.fullmatch(r"[ -~\t]{0,256}", v)
    return None if ok else f"is {_show(v)}, not a sysctl value"


def _token(v: Any, d: Path) -> str | None:
    """A deploy's token (linux/ownership.py: the marker of its namespaces), or a host
    settings hold's token; a deploy's starts with its run directory's tag and a dot."""
    ok = isinstance(v, str) and re.fullmatch(r"([0-9a-f]{8}\.)?[0-9a-f]{8,64}", v)
    return None if ok else f"is {_show(v)}, not a token"


# Shorthands for the field declarations below.
_NetnsPath = Annotated[str, Field(_netns_file)]
_Token = Annotated[str | None, Field(_token, optional=True)]
_Dev = Annotated[int, Field(_int(0))]  # nsfs st_dev / st_ino: for people, never compared
_Ino = Annotated[int, Field(_int(0))]


# --- the entries: one class per kind (the schema) ----------------------------------------


class PlaceholderEntry(TypedDict):
    """A /run/netns file netlab made (journaled just before), with the deploy's token."""

    kind: Literal["placeholder"]
    path: _NetnsPath
    token: _Token


class ForeignEntry(TypedDict):
    """A placeholder name someone else took: never removed."""

    kind: Literal["foreign"]
    path: _NetnsPath


class NetnsEntry(TypedDict):
    """A network namespace netlab pinned; its cookie is its identity."""

    kind: Literal["netns"]
    path: _NetnsPath
    dev: _Dev
    ino: _Ino
    cookie: Annotated[int | None, Field(_int(1), optional=True)]
    token: _Token


class UtsEntry(TypedDict):
    """A node's UTS namespace, pinned in the lab's own uts directory."""

    kind: Literal["uts"]
    path: Annotated[str, Field(_inside(UTS_DIR, node_name_problem))]
    dev: _Dev
    ino: _Ino


class EtcEntry(TypedDict):
    """A /etc/netns/<netns> entry: a link into the lab's store, or netlab's files."""

    kind: Literal["etc"]
    netns: Annotated[str, Field(_name(netns_name_problem))]
    link: Annotated[str | None, Field(_inside(ETC_DIR), optional=True)]


class HostLinkEntry(TypedDict):
    """The uplink's host end; ifindex None until it is known."""

    kind: Literal["hostlink"]
    ifname: Annotated[str, Field(_name(ifname_problem))]
    ifindex: Annotated[int | None, Field(_int(1), optional=True)]


class HostNftEntry(TypedDict):
    """The lab's nft table in the host's namespace."""

    kind: Literal["hostnft"]
    family: Annotated[str, Field(_one_of("ip", "ip6", "inet"))]
    table: Annotated[str, Field(_host_table)]


class HostHoldEntry(TypedDict):
    """A hold on host settings (backends/kernel/hostsettings.py): what for, its token."""

    kind: Literal["hosthold"]
    need: Annotated[str, Field(_one_of("forwarding", "neigh"))]
    token: Annotated[str, Field(_token)]


class HostSysctlEntry(TypedDict):
    """A host sysctl and its old value (written by netlab before the host settings
    record; read back from such journals, acted on by nothing)."""

    kind: Literal["hostsysctl"]
    key: Annotated[str, Field(_name(sysctl_key_problem))]
    old: Annotated[str, Field(_sysctl_value)]


class ProcEntry(TypedDict):
    """A process started by the plan's `exec`: pid and start time (None: it ended at once)."""

    kind: Literal["proc"]
    node: Annotated[str, Field(_name(node_name_problem))]
    index: Annotated[int, Field(_int(0))]
    command: Annotated[str, Field(_text)]
    pid: Annotated[int, Field(_int(1))]
    start: Annotated[int | None, Field(_int(0), optional=True)]
    log: Annotated[str, Field(_inside(LOG_DIR, _log_name))]


class MntnsEntry(TypedDict):
    """A node's mount namespace (its private machine), pinned in the lab's mnt directory
    (freed with the lab's state directory)."""

    kind: Literal["mntns"]
    node: Annotated[str, Field(_name(node_name_problem))]
    path: Annotated[str, Field(_inside(MNT_DIR, node_name_problem))]
    dev: _Dev
    ino: _Ino


class InitEntry(TypedDict):
    """PID 1 of a node's PID namespace: pid and start time (ending it ends the node)."""

    kind: Literal["init"]
    node: Annotated[str, Field(_name(node_name_problem))]
    pid: Annotated[int, Field(_int(1))]
    start: Annotated[int | None, Field(_int(0), optional=True)]


KnownEntry = (PlaceholderEntry | ForeignEntry | NetnsEntry | UtsEntry | EtcEntry | HostLinkEntry
              | HostNftEntry | HostHoldEntry | HostSysctlEntry | ProcEntry | MntnsEntry
              | InitEntry)
# An entry read back: one of the known kinds, or a kind this netlab does not know (inert).
Entry = KnownEntry | dict[str, Any]

ENTRY_TYPES: dict[str, type] = {}
JOURNAL_SCHEMA: dict[str, dict[str, Field]] = {}
for _cls in get_args(KnownEntry):
    _hints = get_type_hints(_cls, include_extras=True)
    (_kind,) = get_args(_hints.pop("kind"))
    ENTRY_TYPES[_kind] = _cls
    JOURNAL_SCHEMA[_kind] = {k: get_args(h)[1] for k, h in _hints.items()}


def check_entry(entry: Any, d: Path) -> tuple[Entry | None, str]:
    """(the entry with only its checked fields, "") or (None, what is wrong). `d`: the
    lab's state directory (paths in entries must lie inside it)."""
    if not isinstance(entry, dict):
        return None, f"not a JSON object but {type(entry).__name__}"
    kind = entry.get("kind")
    if not isinstance(kind, str):
        return None, "no \"kind\""
    schema = JOURNAL_SCHEMA.get(kind)
    if schema is None:
        return entry, ""  # kept, inert: nothing acts on kinds it does not know
    out: dict[str, Any] = {"kind": kind}
    for key, f in schema.items():
        if key not in entry or (f.optional and entry[key] is None):
            if not f.optional:
                return None, f"{kind} entry without {key!r}"
            out[key] = None
            continue
        if why := f.check(entry[key], d):
            return None, f"{kind} entry: {key} {why}"
        out[key] = entry[key]
    return cast(Entry, out), ""


# Per kind: the fields an entry may have, and those it must have (for writers).
_ALLOWED = {k: frozenset(f) | {"kind"} for k, f in JOURNAL_SCHEMA.items()}
_REQUIRED = {k: frozenset(n for n, x in f.items() if not x.optional) | {"kind"}
             for k, f in JOURNAL_SCHEMA.items()}


def _shape_problem(entry: dict[str, Any]) -> str | None:
    """For writers: an entry of a known kind must have exactly its kind's fields
    (optional ones may be left out), or it would not read back as written. (A kind this
    netlab does not know is written as is: it reads back inert.)"""
    kind = entry.get("kind")
    if not isinstance(kind, str):
        return "no \"kind\""
    allowed = _ALLOWED.get(kind)
    if allowed is None or _REQUIRED[kind] <= entry.keys() <= allowed:
        return None
    if extra := entry.keys() - allowed:
        return f"fields {sorted(extra)} are not in the schema (add them to its class)"
    return f"fields {sorted(_REQUIRED[kind] - entry.keys())} missing"


@dataclass(frozen=True)
class Damaged:
    """A journal line that was skipped: its number and why."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"{RECORD_FILE} line {self.line}: {self.reason}; entry skipped"


class Record:
    """A lab's journal: `entries` (typed; see the classes above) and, read back, the
    `damaged` lines that were skipped. Written by deploy (`open`, `add`), read by status
    and destroy (`read_record`)."""

    def __init__(self, name: str):
        self.path = lab_dir(name) / RECORD_FILE
        self.entries: list[Entry] = []
        self.damaged: list[Damaged] = []
        self._fd: int | None = None

    def open(self) -> Record:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
                           | os.O_NOFOLLOW, 0o600)
        return self

    def add(self, entry: KnownEntry | None = None, /, **fields: Any) -> None:
        """Journal one entry: a typed one (`NetnsEntry(kind="netns", ...)`), or its fields
        as keywords."""
        self.add_many([entry if entry is not None else fields])  # type: ignore[list-item]

    def add_many(self, entries: list[KnownEntry] | list[dict[str, Any]]) -> None:
        if not entries:
            return
        for e in entries:
            if why := _shape_problem(e):  # type: ignore[arg-type]
                raise ValueError(f"journal entry {e!r}: {why}")
            allowed = _ALLOWED.get(e["kind"])
            if allowed is not None and len(e) < len(allowed):  # as read back: null
                for k in allowed - e.keys():
                    e[k] = None  # type: ignore[literal-required]
        self.entries.extend(entries)
        if self._fd is not None:
            os.write(self._fd, "".join(json.dumps(e) + "\n" for e in entries).encode())

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @overload
    def of(self, kind: Literal["placeholder"]) -> list[PlaceholderEntry]: ...
    @overload
    def of(self, kind: Literal["foreign"]) -> list[ForeignEntry]: ...
    @overload
    def of(self, kind: Literal["netns"]) -> list[NetnsEntry]: ...
    @overload
    def of(self, kind: Literal["uts"]) -> list[UtsEntry]: ...
    @overload
    def of(self, kind: Literal["etc"]) -> list[EtcEntry]: ...
    @overload
    def of(self, kind: Literal["hostlink"]) -> list[HostLinkEntry]: ...
    @overload
    def of(self, kind: Literal["hostnft"]) -> list[HostNftEntry]: ...
    @overload
    def of(self, kind: Literal["hosthold"]) -> list[HostHoldEntry]: ...
    @overload
    def of(self, kind: Literal["proc"]) -> list[ProcEntry]: ...
    @overload
    def of(self, kind: Literal["mntns"]) -> list[MntnsEntry]: ...
    @overload
    def of(self, kind: Literal["init"]) -> list[InitEntry]: ...
    @overload
    def of(self, kind: str) -> list[Entry]: ...

    def of(self, kind: str) -> list[Any]:
        """The entries of one kind, in journal order, typed by their kind."""
        return [e for e in self.entries if e.get("kind") == kind]


def read_record(name: str) -> Record:
    """The journal of a lab (empty if it has none). Every line is checked against
    JOURNAL_SCHEMA; a damaged one (a torn last line too) goes to `damaged`, never raises."""
    rec = Record(name)
    text = read_state_file(rec.path)
    if text is None:
        return rec
    d = rec.path.parent
    for no, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except (ValueError, RecursionError) as e:  # RecursionError: [[[[... nesting
            rec.damaged.append(Damaged(no, f"not JSON ({type(e).__name__})"))
            continue
        entry, why = check_entry(raw, d)
        if entry is None:
            rec.damaged.append(Damaged(no, why))
        else:
            rec.entries.append(entry)
    return rec
