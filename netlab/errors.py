"""Problems found in a topology, and how they are shown to people."""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

# Problems are listed in the order sections usually appear in a file.
_SECTIONS = ("", "lab", "defaults", "pools", "nodes", "switches", "links", "expect", "uplink")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_PATH_PART = re.compile(r'"(?:[^"\\]|\\.)*"|\[\d+\]|[^.\[]+')


@dataclass(frozen=True)
class Problem:
    path: str  # key path in the file, e.g. "links[3].endpoints[1]"; "" for the whole file
    message: str
    fix: str = ""
    severity: Literal["error", "warning"] = "error"

    def sort_key(self) -> tuple[object, ...]:
        """File order of sections, then natural order of the path: links[2] < links[10]."""
        parts = _PATH_PART.findall(self.path)
        head = parts[0] if parts else ""
        section = _SECTIONS.index(head) if head in _SECTIONS else len(_SECTIONS)
        rest = tuple((0, int(x[1:-1]), "") if x.startswith("[") else (1, 0, x)
                     for x in parts[1:])
        return (section, head, rest, self.message, self.severity)

    def __lt__(self, other: Problem) -> bool:
        return self.sort_key() < other.sort_key()

    def render(self, file: str) -> str:
        where = f"{file}: {self.path}" if self.path else file
        text = f"{self.severity}: {where}: {self.message}"
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text


@dataclass
class Problems:
    """Collects every problem of a topology so that all are reported at once."""

    items: list[Problem] = field(default_factory=list)

    def error(self, path: str, message: str, fix: str = "") -> None:
        self.items.append(Problem(path, message, fix, "error"))

    def warning(self, path: str, message: str, fix: str = "") -> None:
        self.items.append(Problem(path, message, fix, "warning"))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.items if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.items if p.severity == "warning"]


class NetlabError(Exception):
    """An error meant for people: the CLI prints it without a traceback."""

    exit_code = 1


class UsageError(NetlabError):
    exit_code = 2


class NamespaceGone(NetlabError, FileNotFoundError):
    """A lab's namespace is missing (lab destroyed, half-deployed, or removed by hand).

    Still a FileNotFoundError, for code that treats a missing namespace as a state."""


def namespace_gone(path: str, kind: str = "network", node: str | None = None) -> NamespaceGone:
    """The one message for a namespace that is not there when netlab would enter it (exec,
    shell, Lab.exec, the plan's exec commands, probes, status): nothing runs instead, and
    above all nothing runs in the host's own namespace."""
    who = f"node {node}: " if node else ""
    return NamespaceGone(
        f"{who}{kind} namespace {path} is missing (the lab was destroyed, is half-deployed,"
        " or the namespace was removed by hand); nothing was run, netlab never falls back"
        " to the host's namespaces (see `netlab status`; `netlab deploy --force` rebuilds)")


_said_interrupted = False


def report_interrupted(once: bool = False) -> None:
    """Say "interrupted" on stderr: Ctrl-C, SIGTERM or SIGHUP ended the command (with
    `once`, only if nothing said it yet: the CLI's last word after a verb's own)."""
    global _said_interrupted
    if not (once and _said_interrupted):
        print("interrupted", file=sys.stderr, flush=True)
    _said_interrupted = True


def require_root(verb: str) -> None:
    """Refuse at once, before any work, a verb that needs root."""
    import os

    if os.geteuid() != 0:
        raise UsageError(f"`netlab {verb}` needs root (network namespaces, netlink,"
                         " /run, /etc/netns); run it with sudo")


class TopologyError(NetlabError):
    """A topology file that cannot be used; carries every problem found."""

    exit_code = 2

    def __init__(self, file: str, problems: Iterable[Problem], more_checks_pending: bool = False):
        self.file = file
        self.problems = sorted(problems)
        # True when the file's structure was too broken for the later (semantic) checks.
        self.more_checks_pending = more_checks_pending
        super().__init__(self.render())

    def render(self) -> str:
        errors = sum(p.severity == "error" for p in self.problems)
        warnings = len(self.problems) - errors
        lines = [p.render(self.file) for p in self.problems]
        summary = plural(errors, "error") + (f", {plural(warnings, 'warning')}" if warnings else "")
        lines.append(f"{self.file}: {summary}; nothing was built")
        if self.more_checks_pending:
            lines.append("(more checks run once these are fixed)")
        return "\n".join(lines)


def plural(n: int, word: str) -> str:
    """plural(1, "switch") -> '1 switch'; plural(2, "switch") -> '2 switches'."""
    if n == 1:
        return f"{n} {word}"
    return f"{n} {word}es" if word.endswith(("s", "sh", "ch", "x")) else f"{n} {word}s"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean "x"?)' when a choice is close to `word`, else ''."""
    close = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def listing(names: Iterable[str], limit: int = 12, empty: str = "(none)") -> str:
    """'a, b, c' in the order given; past `limit`, 'a, b ... (N more)' (a 1000-host lab's
    message stays one readable line); `empty` when there are none."""
    names = list(names)
    if not names:
        return empty
    shown = ", ".join(names[:limit])
    return shown + (f" ... ({len(names) - limit} more)" if len(names) > limit else "")


def one_of(names: Iterable[str], limit: int = 12, empty: str = "(none)") -> str:
    """The fix of a name that is not there: 'use one of: a, b, c'."""
    return "use one of: " + listing(names, limit, empty)


# The "no such node / switch / interface" messages: the only place they are worded (compile,
# plan lookups, probes, link control, Lab.node). Without `listed` (a topology Problem, whose
# fix lists the names: see one_of), with `listed` (a one-line runtime error).

def no_such_node(name: str, known: Iterable[str], lab: str | None = None,
                 what: str = "node", listed: bool = False) -> str:
    """no node named 'pc3' (did you mean "pc2"?)
    lab 'demo' has no node named 'pc3' (did you mean "pc2"?)      (lab given)
    ... ; it has: pc1, pc2                                           (listed)

    `what`: "node", "switch" or "node or switch"; `known`: the names of that kind, listed
    in the order given."""
    known = list(known)
    head = f"lab {lab!r} has no {what} named" if lab is not None else f"no {what} named"
    text = f"{head} {name!r}{did_you_mean(name, known)}"
    return text + _has(known) if listed else text


def _has(known: list[str]) -> str:
    return f"; it has: {listing(known)}" if known else "; it has none"


def no_such_interface(owner: str, ifname: str, known: Iterable[str], what: str = "node",
                      listed: bool = False) -> str:
    """node 'gw' has no interface 'eth1' (did you mean "eth0"?)
    ... ; it has: eth0, wan                                          (listed)

    `what`: "node" or "switch" (a switch's interfaces are its bridge and ports)."""
    known = list(known)
    text = f"{what} {owner!r} has no interface {ifname!r}{did_you_mean(ifname, known)}"
    return text + _has(known) if listed else text


def no_such_target(text: str, name: str, known: Iterable[str], lab: str | None = None,
                   listed: bool = False) -> str:
    """'pc4' is neither a node nor an IP address (did you mean "pc2"?)
    'pc4' is neither a node of lab 'demo' nor an IP address ...      (lab given)
    ... ; nodes: pc1, pc2                                            (listed)

    For a probe's or expectation's target: `text` as given, `name` its node part."""
    known = list(known)
    node = f"a node of lab {lab!r}" if lab is not None else "a node"
    text = f"{text!r} is neither {node} nor an IP address{did_you_mean(name, known)}"
    return text + f"; nodes: {listing(known)}" if listed else text


def no_address(name: str, ifname: str | None = None, family: int | None = None) -> str:
    """node 'gw' has no address to probe; interface gw:eth1 has no IPv6 address to probe."""
    what = f"node {name!r}" if ifname is None else f"interface {name}:{ifname}"
    return f"{what} has no {f'IPv{family} ' if family else ''}address to probe"


def toml_key(name: str) -> str:
    """A key as TOML writes it: bare when it can be, else quoted ('x y' -> '"x y"')."""
    if _BARE_KEY.match(name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def key_path(loc: Iterable[str | int]) -> str:
    """('links', 3, 'endpoints', 1) -> 'links[3].endpoints[1]'; odd keys are quoted."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            key = toml_key(str(part))
            out += f".{key}" if out else key
    return out


def who(uid: int) -> str:
    """A user as messages name them: 'alice (uid 1000)', or 'uid 1000' without a name."""
    import pwd

    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"
