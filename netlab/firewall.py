"""Node firewalls: a teacher's nftables rules, confined to a table netlab owns.

The topology's `firewall` text is the *body* of a table (chains, sets, maps). netlab
wraps it in `table inet netlab_fw { ... }` and appends it to the node's nftables text,
which the backend loads with a single `nft -f` (atomic: all of it or nothing).

The body is checked, without nft, so that it cannot reach outside that table: braces
must balance (a stray `}` would close the table early), and the words that name or
replace other tables or read other files (`table`, `ruleset`, `include`, `define`) are
refused. nft itself checks the rest when the lab is deployed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

FW_TABLE = "netlab_fw"
FW_FAMILY = "inet"  # one table filters both IPv4 and IPv6

# Word -> why it is refused (what it would do if allowed).
_FORBIDDEN = {
    "table": "declares or names a table; the rules already live in netlab's own table",
    "ruleset": "acts on the whole ruleset (e.g. `flush ruleset`), not just this table",
    "include": "reads another file into the ruleset",
    "define": "is a top-level directive; write the value where it is used",
}
_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[{}]|[A-Za-z_][A-Za-z0-9_-]*|\S')

EXAMPLE = ('chain forward { type filter hook forward priority filter; policy drop; '
           'ct state established,related accept; tcp dport 80 accept }')


@dataclass(frozen=True)
class FirewallProblem:
    message: str
    fix: str
    severity: Literal["error", "warning"] = "error"


def problems(body: str, ifnames: set[str] | None = None) -> list[FirewallProblem]:
    """Everything wrong with a firewall body; [] when it can be loaded as netlab's table."""
    out: list[FirewallProblem] = []
    words: list[str] = []
    depth = 0
    for m in _TOKEN.finditer(body):
        tok = m.group(0)
        if tok.startswith(("#", '"')):
            continue
        line = body.count("\n", 0, m.start()) + 1
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
            if depth < 0:
                out.append(FirewallProblem(
                    f"line {line}: this '}}' closes a brace that was never opened; it would"
                    f" end netlab's table early",
                    "remove it, or add the '{' it belongs to"))
                depth = 0
        words.append(tok)
        why = _FORBIDDEN.get(tok.lower())
        if why is not None:
            out.append(FirewallProblem(
                f"line {line}: {tok!r} is not allowed here: it {why}",
                "write only the table's body: chains (and sets), e.g. " + EXAMPLE))
    if not words:
        return [FirewallProblem("the firewall has no rules", "write at least one chain, e.g. "
                                + EXAMPLE)]
    if depth > 0:
        out.append(FirewallProblem(f"{depth} '{{' never closed",
                                   "add the missing '}' at the end of the chain"))
    if "chain" not in (w.lower() for w in words):
        out.append(FirewallProblem("the firewall has no chain, so it filters nothing",
                                   "add a chain with a hook, e.g. " + EXAMPLE, "warning"))
    if ifnames is not None:
        for name in _matched_ifnames(body):
            if name not in ifnames and not any(c in name for c in "*?["):
                out.append(FirewallProblem(
                    f"the rules match interface {name!r}, which this node does not have",
                    "use one of: " + (", ".join(sorted(ifnames)) or "(none: link it first)"),
                    "warning"))
    return out


def _matched_ifnames(body: str) -> list[str]:
    """Names after iifname/oifname: `iifname "eth0"`, `oifname != eth1`, `iifname { a, b }`."""
    toks = [m.group(0) for m in _TOKEN.finditer(body) if not m.group(0).startswith("#")]
    names: list[str] = []
    for k, tok in enumerate(toks):
        if tok not in ("iifname", "oifname"):
            continue
        j = k + 1
        while j < len(toks) and toks[j] in ("!", "=", "!="):
            j += 1
        if j < len(toks) and toks[j] == "{":
            j += 1
            while j < len(toks) and toks[j] != "}":
                if toks[j] != ",":
                    names.append(toks[j].strip('"'))
                j += 1
        elif j < len(toks):
            names.append(toks[j].strip('"'))
    return names


def render(body: str) -> str:
    """The body wrapped in netlab's firewall table, ready for `nft -f`."""
    lines = [f"\t{line.rstrip()}" if line.strip() else "" for line in body.strip().splitlines()]
    return f"table {FW_FAMILY} {FW_TABLE} {{\n" + "\n".join(lines) + "\n}\n"
