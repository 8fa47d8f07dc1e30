"""An imported lab (netlab.importers.common.Imported) as the text of a netlab topology
file: plain TOML, in the order a person writes one, with comments saying where things
came from. tomllib reads it back (the tests check the round trip)."""

from __future__ import annotations

import re
from typing import Any

from netlab.errors import toml_key
from netlab.importers.common import Imported

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # \r too: TOML reads CRLF as \n
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
            "\r": "\\r"}


def _escape(text: str, keep_newlines: bool) -> str:
    out = []
    for c in text:
        if c == "\n" and keep_newlines:
            out.append(c)
        elif c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif ord(c) < 0x20 or c == "\x7f":
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return "".join(out)


def _string(text: str) -> str:
    if "\n" in text and "'''" not in text and not _CONTROL.search(text.replace("\t", "")):
        # A literal multi-line string: the script or file reads as it is, no escapes.
        return "'''\n" + text + "'''"
    if "\n" in text:
        return '"""\n' + _escape(text, keep_newlines=True) + '"""'
    return '"' + _escape(text, keep_newlines=False) + '"'


def value(v: Any, key: str = "") -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return f"0o{v:o}" if key == "mode" else str(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, list):
        return "[" + ", ".join(value(x) for x in v) + "]"
    if isinstance(v, dict):
        if not v:
            return "{}"
        return "{" + ", ".join(f"{toml_key(k)} = {value(x, k)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _pairs(table: dict[str, Any]) -> list[str]:
    out = []
    for k, v in table.items():
        if k.startswith("#"):
            continue
        if k == "startup" and isinstance(v, list) and any("\n" in x for x in v):
            out.append("startup = [")
            out.extend(f"  {value(x)}," for x in v)
            out.append("]")
        else:
            out.append(f"{toml_key(k)} = {value(v, k)}")
    return out


def dumps(imp: Imported) -> str:
    lines = [f"# {line}" if line else "#" for line in imp.header]
    lines += ["", "[lab]", *_pairs(imp.lab)]
    if imp.defaults:
        lines += ["", "[defaults]", *_pairs(imp.defaults)]
    for name, node in imp.nodes.items():
        lines.append("")
        lines += [f"# {c}" for c in imp.node_comments.get(name, [])]
        plain = {k: v for k, v in node.items() if k != "files"}
        lines += [f"[nodes.{toml_key(name)}]", *_pairs(plain)]
        short = {p: s for p, s in node.get("files", {}).items()
                 if not (isinstance(s, dict) and "content" in s)}
        if short:
            lines += ["", f"[nodes.{toml_key(name)}.files]", *_pairs(short)]
        for path, spec in node.get("files", {}).items():
            if isinstance(spec, dict) and "content" in spec:
                # a table of its own: the text reads as a block, not one long line
                lines += ["", f"[nodes.{toml_key(name)}.files.{toml_key(path)}]",
                          *_pairs(spec)]
    for name, switch in imp.switches.items():
        lines.append("")
        lines += [f"# {c}" for c in imp.switch_comments.get(name, [])]
        lines += [f"[switches.{toml_key(name)}]", *_pairs(switch)]
    for link in imp.links:
        lines.append("")
        if "#" in link:
            lines.append(f"# {link['#']}")
        lines += ["[[links]]", *_pairs(link)]
    if imp.uplink is not None:
        lines += ["", "[uplink]", *_pairs(imp.uplink)]
    return "\n".join(lines).lstrip("\n") + "\n"
