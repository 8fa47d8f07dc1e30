"""TOML file -> validated TopologyFile, with every structural problem reported at once.

The file is read by safefile.read_text (what netlab refuses to read, and why); the TOML is
checked for nesting before tomllib recurses into it; pydantic's errors become problems a
student can act on (messages.py); unknown keys are dropped and validation runs again, so
that the later checks still run (parse_lenient, merge).
"""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from netlab.errors import Problem, TopologyError, key_path
from netlab.topology.messages import clean_loc, problems_of, toml_problem
from netlab.topology.model import TopologyFile
from netlab.topology.safefile import MAX_BYTES, read_text

MAX_DEPTH = 100  # levels of tables and arrays inside each other; real labs use < 10

__all__ = ["MAX_BYTES", "MAX_DEPTH", "merge", "parse", "parse_lenient", "read", "read_table",
           "read_text"]


def _drop(raw: Any, loc: tuple[Any, ...]) -> None:
    for part in loc[:-1]:
        raw = raw[part]
    del raw[loc[-1]]


def parse_lenient(text: str, file: str) -> tuple[TopologyFile | None, list[Problem]]:
    """Parse and validate; return the model (None if unusable) and the problems found.

    Unknown keys below the top level are dropped and validation runs again, so that the
    compiler's later checks still run and the student sees every problem in one go; any
    other structural problem leaves no model to check further.
    """
    try:
        return _parse_lenient(text)
    except RecursionError:  # a backstop: the depth checks come first
        return None, [_TOO_DEEP]


def _parse_lenient(text: str) -> tuple[TopologyFile | None, list[Problem]]:
    raw, problem = _table(text)
    if raw is None:
        return None, [problem] if problem else []
    try:
        return TopologyFile.model_validate(raw), []
    except ValidationError as e:
        errors = e.errors()
    problems = problems_of(errors)
    extra = [tuple(err["loc"]) for err in errors if err["type"] == "extra_forbidden"]
    if len(extra) != len(errors) or any(len(loc) < 2 for loc in extra):
        return None, problems
    # A misspelt section at the top ([node.x]) loses real content: no salvage there.
    salvaged = copy.deepcopy(raw)
    try:
        for loc in extra:
            _drop(salvaged, clean_loc(loc))
        return TopologyFile.model_validate(salvaged), problems
    except (ValidationError, KeyError, IndexError, TypeError):
        return None, problems


# Strings and comments, whose brackets do not nest, and the brackets that do.
_TOKENS = re.compile(r"""
    \"{3}(?:[^\\]|\\.)*?\"{3,5}   # multi-line basic string
  | '{3}.*?'{3,5}                 # multi-line literal string
  | "(?:[^"\\\n]|\\.)*"?          # basic string (unterminated: to the line's end)
  | '[^'\n]*'?                    # literal string
  | \#[^\n]*                      # comment
  | [\[\]{}]
""", re.X | re.S)
_FLATTEN = ("a topology needs only a few levels (e.g. nodes.NAME.nat.forward); remove the"
            " extra nesting")


_TOO_DEEP = Problem("", "nested too deeply to read (tables and arrays inside each other)",
                    _FLATTEN)


def _table(text: str) -> tuple[dict[str, Any] | None, Problem | None]:
    """The TOML text as a table, or None and why not (syntax, nesting)."""
    if (line := _too_deep(text)) is not None:  # tomllib recurses: check before it runs
        return None, Problem("", f"nested more than {MAX_DEPTH} levels deep at line {line}"
                             " (arrays and inline tables inside each other)", _FLATTEN)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        return None, toml_problem(e)
    if (loc := _deepest(raw)) is not None:  # dotted keys nest without brackets
        return None, Problem(key_path(loc[:3]), f"nested more than {MAX_DEPTH} levels deep"
                             " (tables and arrays inside each other)", _FLATTEN)
    return raw, None


def read_table(path: str | Path) -> dict[str, Any]:
    """A topology file as a plain TOML table, not validated: for reading a key or two of a
    file that may be broken (`netlab destroy FILE` wants only its lab name). The file is
    read and checked as `read_text` does; TopologyError if it is not TOML. Another
    tool's lab (a Kathará directory, a .clab.yml) is imported first, as `read_source`."""
    text = read_source(path)[0]
    try:
        raw, problem = _table(text)
    except RecursionError:
        raw, problem = None, _TOO_DEEP
    if raw is None:
        raise TopologyError(str(path), [problem] if problem else [])
    return raw


def _too_deep(text: str) -> int | None:
    """The line where brackets ([ and {) nest more than MAX_DEPTH deep, or None."""
    depth = 0
    for m in _TOKENS.finditer(text):
        c = m.group()
        if c == "[" or c == "{":
            depth += 1
            if depth > MAX_DEPTH:
                return text.count("\n", 0, m.start()) + 1
        elif c == "]" or c == "}":
            depth = max(depth - 1, 0)
    return None


def _deepest(raw: dict[str, Any]) -> tuple[str | int, ...] | None:
    """The key path of a value nested more than MAX_DEPTH deep, or None (no recursion)."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(raw, ())]
    while stack:
        value, loc = stack.pop()
        if len(loc) > MAX_DEPTH:
            return loc
        items = value.items() if isinstance(value, dict) else enumerate(value)
        stack.extend((v, (*loc, k)) for k, v in items if isinstance(v, dict | list))
    return None


def merge(early: list[Problem], later: list[Problem]) -> list[Problem]:
    """Structural problems plus the later checks' problems, minus those the dropped keys
    may have caused: anything in a table that had an unknown key (a misspelt `to` makes
    "needs a target" appear) waits until the key is fixed."""
    tables = {_parent(p.path) for p in early if p.message.startswith("unknown key")}

    def inside(path: str) -> bool:
        return any(path == t or path.startswith((t + ".", t + "[")) for t in tables)

    return early + [p for p in later if not inside(p.path)]


def _parent(path: str) -> str:
    cut = max(path.rfind("."), path.rfind("["))
    # A quoted key may hold dots: fall back to the whole path's table prefix.
    return path[:cut] if cut > 0 and path.rfind('"') < cut else path.rsplit('."', 1)[0]


def parse(text: str, file: str) -> TopologyFile:
    """Parse and validate topology text; raise TopologyError with every problem."""
    model, problems = parse_lenient(text, file)
    if problems:
        raise TopologyError(file, problems, more_checks_pending=True)
    assert model is not None
    return model


def read(path: str | Path) -> TopologyFile:
    return parse(read_text(path), str(path))


def read_source(path: str | Path) -> tuple[str, str, list[Problem]]:
    """(text, source, warnings) of a topology: a netlab file as read_text reads it; a
    Kathará lab directory or a containerlab *.clab.yml imported on the fly
    (netlab.importers), with the import's warnings. `source` is the path the topology is
    compiled as: a Kathará lab's lab.conf, so that its directory is the lab directory."""
    from netlab.importers import format_of

    fmt = format_of(path)
    if fmt is None:
        return read_text(path), str(path), []
    from netlab.importers import convert

    source = Path(path) / "lab.conf" if fmt == "kathara" else Path(path)
    text, warnings = convert(path, source)
    return text, str(source), warnings
