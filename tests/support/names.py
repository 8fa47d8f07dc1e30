"""Unique lab names for tests, and the one renamer: two runs of the suite on one machine
(or two helpers' runs) must never deploy, destroy or clean a lab of the other.

Namespaces live in the global /run/netns whatever NETLAB_RUN_DIR says, so a renamed lab
also gets a unique [lab] prefix (the namespace names), not only a unique name.
"""

from __future__ import annotations

import re
import secrets
import tomllib
from pathlib import Path
from typing import Any

LAB_NAME_MAX = 12  # netlab.names.LAB_NAME_MAX; kept literal so this module imports nothing


def unique_name(stem: str = "t") -> str:
    """`stem` plus random hex digits, 12 characters in all (a valid, unique lab name)."""
    assert re.fullmatch(r"[a-z][a-z0-9]{0,7}", stem), f"stem {stem!r}: 1-8 of [a-z0-9]"
    name = stem + secrets.token_hex(LAB_NAME_MAX)[: LAB_NAME_MAX - len(stem)]
    _MADE.add(name)
    return name


_MADE: set[str] = set()  # every unique_name() of this process


def renamed_doc(doc: dict[str, Any], lab: str, prefix: str | None = None) -> dict[str, Any]:
    """`doc` (a parsed topology) with [lab] name = `lab` and [lab] prefix = `prefix`
    (default: `lab`), in place; returned for chaining."""
    assert len(lab) <= LAB_NAME_MAX, lab
    doc.setdefault("lab", {})["name"] = lab
    doc["lab"]["prefix"] = lab if prefix is None else prefix
    return doc


def renamed_text(text: str, lab: str, prefix: str | None = None) -> str:
    """Topology TOML text renamed (see renamed_doc), as TOML text again."""
    return toml_dumps(renamed_doc(tomllib.loads(text), lab, prefix))


def renamed_copy(src: Path, lab: str, outdir: Path, prefix: str | None = None) -> Path:
    """A renamed copy of topology file `src`, written to `outdir/<lab>.toml`."""
    out = outdir / f"{lab}.toml"
    out.write_text(renamed_text(src.read_text(encoding="utf-8"), lab, prefix),
                   encoding="utf-8")
    return out


# A tiny TOML writer (tomllib only reads): one `key = value` line per top-level key.

def _string(s: str) -> str:
    # JSON string escapes are valid TOML basic-string escapes, except that TOML also wants
    # DEL escaped; astral characters stay literal (ensure_ascii=False avoids surrogates).
    import json

    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(v: Any) -> str:
    import math

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_string(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"not a TOML value: {v!r}")


def toml_dumps(doc: dict[str, Any]) -> str:
    """One `key = value` line per top-level key (inline tables), parseable by tomllib."""
    return "".join(f"{_string(k)} = {toml_value(v)}\n" for k, v in doc.items())


# This process's token: every fixed test name ("t5x", "t7r", ...) is built on
# run_prefix(stem), so two runs of the suite at once never share a lab, a namespace
# prefix or a nft table, and force-cleaning by prefix only ever reaches this run's labs.
RUN = secrets.token_hex(2)


def run_prefix(stem: str) -> str:
    """`stem` + this run's 4 hex digits, e.g. "t5" -> "t5a3f0" (6 of a name's 12)."""
    return stem + RUN


def is_ours(name: str) -> bool:
    """Whether lab (or namespace prefix) `name` was made by this run: a unique_name() of
    this process, or built on run_prefix() ("t5" + this run's token + anything). Only such
    names may be cleaned by force (tests/support/host.py)."""
    if any(name.startswith(made) for made in _MADE):
        return True
    return any(name.startswith(name[:k] + RUN) for k in (1, 2, 3))
