"""Node firewalls: a teacher's nftables rules, confined to a table netlab owns; and the
rules for every piece of nft text netlab writes.

The topology's `firewall` text is the *body* of a table (chains, sets, maps). netlab
wraps it in `table inet netlab_fw { ... }` and appends it to the node's nftables text,
which the backend loads in one transaction (atomic: all of it or nothing).

Two checks, so that the text can neither reach outside that table nor read a file:

1. `problems`: a tokenizer that lexes exactly as nft does (nftables src/scanner.l: a
   quoted string is `"[^"]*"`, with no escapes and possibly over several lines; a comment
   runs from `#` to the end of the line; a `"` never closed is a lone character and the
   text after it is code). Braces must balance (a stray `}` would close the table early),
   and the words that name or replace other tables or read other files (`table`,
   `ruleset`, `include`, `define`) are refused. A body with any of these errors never
   reaches nft.
2. `nft_problems`: nftables' own parser, on the text netlab would load, loaded for real
   into a scratch network namespace by an unprivileged child (netlab.linux.nft.sandbox);
   afterwards only netlab's table may exist there. nft's errors come back with the line
   of the firewall text they are about.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from netlab.errors import NetlabError
from netlab.names import ifname_problem

FW_TABLE = "netlab_fw"
FW_FAMILY = "inet"  # one table filters both IPv4 and IPv6

# Word -> why it is refused (what it would do if allowed).
_FORBIDDEN = {
    "table": "declares or names a table; the rules already live in netlab's own table",
    "ruleset": "acts on the whole ruleset (e.g. `flush ruleset`), not just this table",
    "include": "reads another file into the ruleset",
    "define": "is a top-level directive; write the value where it is used",
}
# Refused wherever they appear inside a word, in any case: nft splits "1dinclude" into a
# time "1d" and the keyword `include` (and `redefine`/`undefine` are directives too).
_FORBIDDEN_INSIDE = ("include", "define", "ruleset")
# nft's lexemes as far as they matter here (src/scanner.l): quotedstring, comment, braces,
# words, and any other single character.
_LEX = re.compile(r'"[^"]*"|#[^\n]*|[{}]|[A-Za-z_][A-Za-z0-9_-]*|\S')
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_IDENT = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_IFNAME = re.compile(r"[a-z][a-z0-9_-]{0,14}")  # names.py's rule, full-matched
_BLANK = " \t\n"  # whitespace as nft sees it (\r and other controls are refused)

EXAMPLE = ('chain forward { type filter hook forward priority filter; policy drop; '
           'ct state established,related accept; tcp dport 80 accept; }')
NOT_CHECKED_FIX = "install nftables (Debian/Ubuntu: apt-get install nftables) and validate again"


@dataclass(frozen=True)
class FirewallProblem:
    message: str
    fix: str
    severity: Literal["error", "warning"] = "error"


class UnsafeNftText(NetlabError):
    """A name or value that cannot be written into nft text as it is."""


def tokens(text: str) -> Iterator[tuple[int, int, str]]:
    """(offset, line, lexeme) of `text` as nft's scanner splits it, strings and comments
    included (a lexeme starting with '"' or '#')."""
    line = 1
    last = 0
    for m in _LEX.finditer(text):
        line += text.count("\n", last, m.start())
        last = m.start()
        yield m.start(), line, m.group(0)


def include_problem(text: str) -> str | None:
    """Why nft text must not be given to nft because it could read a file, or None. Used
    on everything the driver loads, netlab's own text included, so it refuses exactly
    what nft could lex as the keyword `include`: the word itself, or a word containing it
    right after a digit or ':' (nft ends a number, time or address there: `1dinclude` is
    `1d` `include`). A name such as `netlab-include` is one string to nft, and passes."""
    for start, line, tok in tokens(text):
        low = tok.lower()
        if tok[0] not in '"#' and "include" in low and (
                low == "include" or (start and text[start - 1] in "0123456789:")):
            return f"line {line}: {tok!r} would make nft read another file"
    return None


def problems(body: str, ifnames: set[str] | None = None) -> list[FirewallProblem]:
    """Everything wrong with a firewall body; [] when it can be loaded as netlab's table."""
    out: list[FirewallProblem] = []
    if m := _CONTROL.search(body):
        line = body.count("\n", 0, m.start()) + 1
        out.append(FirewallProblem(
            f"line {line}: control character {m.group(0)!r}; nft text is printable"
            " characters, tabs and line ends",
            "remove it (a TOML escape such as \\r or \\u0000 is the usual cause)"))
    words: list[str] = []
    depth = 0
    for _, line, tok in tokens(body):
        if tok.startswith("#"):
            continue
        if tok.startswith('"'):
            if len(tok) == 1:
                out.append(FirewallProblem(
                    f"line {line}: this '\"' is never closed",
                    'close the string: nft strings are "..." on one line, without escapes'))
            elif "\n" in tok:
                out.append(FirewallProblem(
                    f"line {line}: this string does not end on its line (nft strings have"
                    " no escapes: a \\\" ends them)",
                    'close the string on the line it starts: "..."'))
            continue
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
        low = tok.lower()
        bad = low if low in _FORBIDDEN else next((w for w in _FORBIDDEN_INSIDE if w in low), None)
        if bad is not None:
            shown = repr(tok) if bad == low else f"{tok!r} (it contains {bad!r})"
            out.append(FirewallProblem(
                f"line {line}: {shown} is not allowed here: it {_FORBIDDEN[bad]}",
                "write only the table's body: chains (and sets), e.g. " + EXAMPLE))
    if not words:
        return out + [FirewallProblem("the firewall has no rules",
                                      "write at least one chain, e.g. " + EXAMPLE)]
    if depth > 0:
        out.append(FirewallProblem(f"{depth} '{{' never closed",
                                   "add the missing '}' at the end of the chain"))
    if "chain" not in (w.lower() for w in words):
        out.append(FirewallProblem("the firewall has no chain, so it filters nothing",
                                   "add a chain with a hook, e.g. " + EXAMPLE, "warning"))
    out = list(dict.fromkeys(out))  # the same word twice on a line: said once
    if ifnames is not None:
        for name in _matched_ifnames(body):
            # Every namespace has lo (netlab's links never include it).
            if name not in ifnames and name != "lo" and not any(c in name for c in "*?["):
                out.append(FirewallProblem(
                    f"the rules match interface {name!r}, which this node does not have",
                    "use one of: " + (", ".join(sorted(ifnames)) or "(none: link it first)"),
                    "warning"))
    return out


def _matched_ifnames(body: str) -> list[str]:
    """Interface names in rules: after iifname/oifname/iif/oif/device(s), e.g.
    `iifname "eth0"`, `oif != eth1`, `iifname { a, b }`, `devices = { eth0 }`."""
    toks = [t for _, _, t in tokens(body) if not t.startswith("#")]
    names: list[str] = []
    for k, tok in enumerate(toks):
        if tok not in ("iifname", "oifname", "iif", "oif", "device", "devices"):
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
    """The body wrapped in netlab's firewall table, ready for nft. Lines are split at
    "\n" only, as nft and `tokens` do (str.splitlines would also split at U+2028 and
    friends, and end a `# comment` early that nft reads on)."""
    lines = [f"\t{line.rstrip(_BLANK)}" if line.strip(_BLANK) else ""
             for line in body.strip(_BLANK).split("\n")]
    return f"table {FW_FAMILY} {FW_TABLE} {{\n" + "\n".join(lines) + "\n}\n"


# -- nft's own verdict ---------------------------------------------------------------------

_NFT_LOCATION = re.compile(r"^ruleset:(\d+):(\d+)(?:-(\d+))?: (?:Error: )?(.*)$")


def nft_problems(bodies: dict[str, str]) -> dict[str, list[FirewallProblem]]:
    """nftables' verdict on each body (node name -> body, each already free of `problems`
    errors): all of them in one scratch namespace, one child process. When nft could not
    check (not installed, no user namespaces), a single warning says so, on the first node.
    """
    if not bodies:
        return {}
    from netlab.linux import nft

    devices = {n for body in bodies.values() for n in _matched_ifnames(body)
               if ifname_problem(n) is None and _IFNAME.fullmatch(n)}
    try:
        verdicts = nft.sandbox({name: render(body) for name, body in bodies.items()},
                               f"table {FW_FAMILY} {FW_TABLE}", devices)
    except nft.NftUnavailable as e:
        first = min(bodies)
        return {first: [FirewallProblem(
            f"the firewall rules of {', '.join(sorted(bodies))} were not checked by nftables"
            f" ({e}); only netlab's own checks ran",
            NOT_CHECKED_FIX if "not installed" in str(e) else
            "run validate where user namespaces are allowed, or as root", "warning")]}
    out: dict[str, list[FirewallProblem]] = {}
    for name, body in bodies.items():
        v = verdicts[name]
        found = [] if v.ok else _map_errors(body, v.errors)
        found += [FirewallProblem(
            f"{_line_naming(body, {table.split()[-1]})}the rules create or change {table} outside"
            f" netlab's table {FW_FAMILY} {FW_TABLE}",
            "write only the table's body: chains (and sets), e.g. " + EXAMPLE)
            for table in v.foreign]
        if v.lost:
            found.append(FirewallProblem(
                f"{_line_naming(body, {'flush', 'delete', 'destroy'})}the rules delete or"
                " flush tables outside netlab's table"
                f" ({', '.join(v.lost)} was gone afterwards)",
                "write only the table's body: chains (and sets), e.g. " + EXAMPLE))
        if found:
            out[name] = found
    return out


def _map_errors(body: str, errors: str) -> list[FirewallProblem]:
    """nft's messages, located in the wrapped text (ruleset:LINE:COL), as problems about
    the firewall text's own lines, each with the line and a caret under the spot."""
    stripped = body.strip(_BLANK)
    start = body.find(stripped) if stripped else 0
    first = body.count("\n", 0, start) + 1  # body line of the wrapped text's line 2
    indent = start - (body.rfind("\n", 0, start) + 1)  # what strip() took off that line
    lines = body.split("\n")
    last = first + stripped.count("\n")
    out: list[FirewallProblem] = []
    around: list[FirewallProblem] = []  # about netlab's wrapper lines: shown only if alone
    for text in errors.splitlines():
        m = _NFT_LOCATION.match(text)
        if m is None:
            continue
        at, c1, c2 = int(m.group(1)), int(m.group(2)), int(m.group(3) or m.group(2))
        message = m.group(4).strip()
        line = first + at - 2
        if not first <= line <= last:
            around.append(FirewallProblem(
                f"nft: {message} (in netlab's table around the rules)",
                "check that every chain and set is complete"))
            continue
        shift = -1 + (indent if line == first else 0)  # render's tab, and strip()
        c1, c2 = max(c1 + shift, 1), max(c2 + shift, 1)
        src = lines[line - 1].rstrip()
        pad = "".join(ch if ch == "\t" else " " for ch in src[:c1 - 1])
        out.append(FirewallProblem(
            f"line {line}: nft: {message}\n    {src}\n    {pad}{'^' * (c2 - c1 + 1)}",
            "correct the rule (nft's syntax: man nft, or https://wiki.nftables.org)"))
    out = out or around
    if not out:
        detail = " ".join(errors.split()) or "no message"
        out.append(FirewallProblem(f"nft refused the rules: {detail}",
                                   "correct the rules (man nft)"))
    return out


def _line_naming(body: str, words: set[str]) -> str:
    """'line N: ' for the first line with one of `words` outside strings and comments."""
    for _, line, tok in tokens(body):
        if tok.strip('"') in words and not tok.startswith("#"):
            return f"line {line}: "
    return ""


# -- names written into nft text -----------------------------------------------------------


def ifname_literal(name: str) -> str:
    """An interface name as an nft string ("eth0"), refused unless it is a valid ifname."""
    why = ifname_problem(name) or (None if _IFNAME.fullmatch(name) else "not a plain name")
    if why is not None:
        raise UnsafeNftText(f"cannot write {name!r} into an nftables rule: {why}")
    return f'"{name}"'


def identifier(name: str) -> str:
    """A table or chain name netlab writes into nft text, refused unless plain."""
    if not _IDENT.fullmatch(name):
        raise UnsafeNftText(f"cannot use {name!r} as an nftables table or chain name")
    return name
