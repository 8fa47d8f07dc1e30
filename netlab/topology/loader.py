"""TOML file -> validated TopologyFile, with every structural problem reported at once.

pydantic's messages are written for programmers ("list should have at least 2 items after
validation, not 1"); here each error becomes a Problem a student can act on: the key path,
what is wrong in plain words, and how to fix it.
"""

from __future__ import annotations

import copy
import os
import re
import stat
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from netlab.errors import Problem, TopologyError, did_you_mean, key_path, who
from netlab.topology.model import TopologyFile

# What each pydantic type error expects, in TOML words.
_EXPECTED = {
    "list_type": 'a list such as ["a", "b"]',
    "string_type": 'a string in quotes such as "eth0"',
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a table ([section] or { key = value })",
    "model_type": "a table ([section] or { key = value })",
}
# Errors that only say "wrong type": when a union has a more specific error at the same
# key, these are noise from the other branches.
_GENERIC = set(_EXPECTED) | {"literal_error", "is_instance_of"}
_TOML_POS = re.compile(r"^(.*) \(at line (\d+), column (\d+)\)$")
MAX_BYTES = 1 << 20  # 1 MiB: a 1000-node lab is ~60 KiB
MAX_DEPTH = 100  # levels of tables and arrays inside each other; real labs use < 10


def _unwrap(tp: Any) -> Any:
    """Strip Optional/Annotated so that X | None -> X (the model, if the union has one)."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            tp = models[0] if models else args[0]
            if len(args) > 1 and not models:
                return tp
        else:
            return tp


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that holds the key at loc, to name its valid keys."""
    tp: Any = TopologyFile
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(part) or next(
                (f for f in tp.model_fields.values() if f.alias == part), None
            )
            if field is None:
                return None
            tp = field.annotation
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        elif typing.get_origin(tp) is list:
            tp = typing.get_args(tp)[0]
        else:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # pydantic adds the union branch it tried (e.g. 'list[...]', 'str'); drop those parts.
    return tuple(p for p in loc if not (isinstance(p, str) and _is_tag(p)))


def _is_tag(part: str) -> bool:
    return "[" in part or part in _TYPE_TAGS


_TYPE_TAGS = {"str", "int", "float", "bool", "IPv4Network", "IPv6Network", "IPv4Address",
              "IPv6Address", "IPv4Interface", "IPv6Interface", "function-before",
              "function-after", "literal['default']", "dict", "list"}


def _show(value: Any) -> str:
    """A value as the student wrote it, in TOML-ish form."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return repr(value)


def _type_fix(kind: str, key: str, given: Any, in_list: bool = False) -> str:
    if kind == "list_type" and isinstance(given, str | int | float):
        return f"write it as a list: {key} = [{_show(given)}]"
    if kind == "string_type" and isinstance(given, int | float) and not isinstance(given, bool):
        return f'put it in quotes: "{given}"'
    if kind in ("int_type", "float_type") and isinstance(given, str):
        return f"write the number without quotes: {key} = {given}" if given.strip().replace(
            ".", "", 1).isdigit() else "write a number without quotes"
    if kind == "bool_type":
        return f"write {key} = true or {key} = false (no quotes)"
    if kind in ("dict_type", "model_type"):
        if in_list:
            return "write it as a table: { key = value, ... }"
        return f"write [{key}] with keys under it, or {key} = {{ ... }}"
    return "correct the value"


def _problem(err: Any) -> Problem:
    loc = _clean_loc(tuple(err["loc"]))
    path = key_path(loc)
    key = str(loc[-1]) if loc and isinstance(loc[-1], str) else path
    kind = err["type"]
    given = err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        valid = _keys(model) if model else []
        return Problem(
            path, f"unknown key {key!r}{did_you_mean(key, valid)}",
            ("valid keys here: " + ", ".join(valid)) if valid else "remove it",
        )
    if kind == "missing":
        parent = key_path(loc[:-1])
        if not parent:
            return Problem(path, f"required key {key!r} is missing", f"add a [{key}] section")
        table = parent if parent.endswith("]") else f"[{parent}]"
        return Problem(path, f"required key {key!r} is missing", f"add {key} = ... to {table}")
    if kind in _EXPECTED:
        return Problem(path, f"expected {_EXPECTED[kind]}, got {_show(given)}",
                       _type_fix(kind, key, given, bool(loc) and isinstance(loc[-1], int)))
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        word = given if isinstance(given, str) else ""
        return Problem(
            path, f"{_show(given)} is not one of: {', '.join(choices)}"
            + did_you_mean(word, choices),
            f'write one of them, e.g. {key} = "{choices[0]}"' if choices else "correct the value",
        )
    if kind in ("too_short", "too_long"):
        n = ctx.get("actual_length", len(given) if isinstance(given, list) else 0)
        if loc and loc[-1] == "endpoints":
            return Problem(path, f"a link has exactly two endpoints; this one has {n}",
                           'write endpoints = ["NODE", "NODE_OR_SWITCH"]; one link per wire')
        if kind == "too_short":
            return Problem(path, f"needs at least {ctx.get('min_length')} entries; has {n}",
                           "add the missing entries")
        return Problem(path, f"takes at most {ctx.get('max_length')} entries; has {n}",
                       "remove the extra entries")
    bounds = {"greater_than_equal": ("at least", "ge"), "greater_than": ("more than", "gt"),
              "less_than_equal": ("at most", "le"), "less_than": ("less than", "lt")}
    if kind in bounds:
        words, name = bounds[kind]
        limit = ctx.get(name)
        return Problem(path, f"must be {words} {limit}; got {_show(given)}",
                       f"use a value {words} {limit}")
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    fix = "correct the value"
    if "host bits" in msg:
        fix = "write the subnet's network address"
    elif "is an IPv" in msg:
        fix = "use a subnet of the other family, or the matching key (subnet / subnet6)"
    elif "not an IP address" in msg or "not an address" in msg or "not a subnet" in msg:
        fix = "write it as four numbers 0-255 separated by dots (IPv4) or in IPv6 notation"
    elif msg.startswith("expected ") and isinstance(given, int | float):
        fix = "write it as a string, in quotes"
    return Problem(path, msg[:1].lower() + msg[1:], fix)


def _toml_problem(e: tomllib.TOMLDecodeError) -> Problem:
    text = str(e)
    m = _TOML_POS.match(text)
    if m is None:
        return Problem("", f"TOML syntax error: {text}", "correct the TOML syntax")
    what, line, col = m.group(1), m.group(2), m.group(3)
    return Problem("", f"TOML syntax error at line {line}, column {col}: "
                   f"{what[0].lower() + what[1:]}", f"correct line {line} of the file")


def _problems(errors: list[Any]) -> list[Problem]:
    """One problem per key: union branches and duplicate reports are merged."""
    by_key: dict[str, list[Any]] = {}
    for err in errors:
        by_key.setdefault(key_path(_clean_loc(tuple(err["loc"]))), []).append(err)
    # A union branch that failed at this key is noise when another branch got further
    # (addresses = [["10.0.0.1/30", 7]]: the list branch names the bad element).
    for key in list(by_key):
        deeper = any(k.startswith((key + "[", key + ".")) for k in by_key)
        kept = [e for e in by_key[key] if not (deeper and _from_union(e))]
        if kept:
            by_key[key] = kept
        else:
            del by_key[key]
    out: set[Problem] = set()
    for errs in by_key.values():
        specific = [e for e in errs if e["type"] not in _GENERIC]
        literal = next((e for e in errs if e["type"] == "literal_error"), None)
        if specific and literal is not None:
            # e.g. to = "defualt" for `"default" or a subnet`: name both alternatives.
            choices = re.findall(r"'([^']*)'", str((literal.get("ctx") or {}).get("expected")))
            given = literal.get("input")
            for e in specific:
                p = _problem(e)
                out.add(Problem(p.path, p.message + "; or write " + " or ".join(
                    f'"{c}"' for c in choices) + did_you_mean(
                    given if isinstance(given, str) else "", choices), p.fix))
        elif specific:
            out.update(_problem(e) for e in specific)
        elif len({e["type"] for e in errs}) > 1 and all(e["type"] in _EXPECTED for e in errs):
            # A union of plain types (e.g. str | int): one message naming all of them.
            first = _problem(errs[0])
            wanted = " or ".join(dict.fromkeys(_EXPECTED[e["type"]] for e in errs))
            out.add(Problem(first.path, f"expected {wanted}, got {_show(errs[0].get('input'))}",
                            "write one of those"))
        else:
            out.update(_problem(e) for e in errs)
    return sorted(out)


def _from_union(err: Any) -> bool:
    return any(isinstance(p, str) and _is_tag(p) for p in err["loc"])


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
    problems = _problems(errors)
    extra = [tuple(err["loc"]) for err in errors if err["type"] == "extra_forbidden"]
    if len(extra) != len(errors) or any(len(loc) < 2 for loc in extra):
        return None, problems
    # A misspelt section at the top ([node.x]) loses real content: no salvage there.
    salvaged = copy.deepcopy(raw)
    try:
        for loc in extra:
            _drop(salvaged, _clean_loc(loc))
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
        return None, _toml_problem(e)
    if (loc := _deepest(raw)) is not None:  # dotted keys nest without brackets
        return None, Problem(key_path(loc[:3]), f"nested more than {MAX_DEPTH} levels deep"
                             " (tables and arrays inside each other)", _FLATTEN)
    return raw, None


def read_table(path: str | Path) -> dict[str, Any]:
    """A topology file as a plain TOML table, not validated: for reading a key or two of a
    file that may be broken (`netlab destroy FILE` wants only its lab name). The file is
    read and checked as `read_text` does; TopologyError if it is not TOML."""
    text = read_text(path)
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


# --- reading the file -------------------------------------------------------------------

def read_text(path: str | Path) -> str:
    """The text of a topology file: the one place netlab reads one, so that every verb
    refuses the same things (exit 2, the file named, the reason and the fix): anything
    but a regular file (a FIFO would hang, /dev/zero never ends), more than MAX_BYTES,
    text that is not UTF-8, and, when running as root, a file that a user other than
    root and the one who ran netlab (sudo's SUDO_UID) could have written or replaced.
    """
    file = str(path)
    try:
        # stat first, so that a device or FIFO is not even opened; then the opened file
        # is checked again (fstat): it may have been swapped in between.
        _check_kind(file, os.stat(path).st_mode)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        raise _unreadable(file, e) from None
    try:
        st = os.fstat(fd)
        _check_kind(file, st.st_mode)
        if os.geteuid() == 0:
            _check_trusted(file, fd, st)
        data = b""
        if st.st_size <= MAX_BYTES:
            while len(data) <= MAX_BYTES and (chunk := os.read(fd, MAX_BYTES + 1 - len(data))):
                data += chunk
        if st.st_size > MAX_BYTES or len(data) > MAX_BYTES:
            raise _refused(file, f"the file is larger than {MAX_BYTES >> 20} MiB, far more"
                           " than any topology needs",
                           "check that this is the topology file you meant")
    except OSError as e:
        raise _unreadable(file, e) from None
    finally:
        os.close(fd)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _refused(file, f"cannot read the file: {e}", "save it as UTF-8 text") from None


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def _check_kind(file: str, mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise _refused(file, f"cannot read the file: it is {kind}, not a regular file",
                       "give the path of a topology file (a .toml file)")


def _refused(file: str, message: str, fix: str) -> TopologyError:
    return TopologyError(file, [Problem("", message, fix)])


def _unreadable(file: str, e: OSError) -> TopologyError:
    return _refused(file, f"cannot read the file: {e.strerror or e}", "check the path")


def _invoker() -> tuple[int, int]:
    """The user (uid, gid) who ran netlab: sudo's SUDO_UID/SUDO_GID, else the real ids."""
    ids = []
    for var, real in (("SUDO_UID", os.getuid()), ("SUDO_GID", os.getgid())):
        text = os.environ.get(var, "")
        ids.append(int(text) if text.isdigit() else real)
    return ids[0], ids[1]


def _check_trusted(file: str, fd: int, st: os.stat_result) -> None:
    """As root, a topology's `exec` commands run as root: refuse a file that anyone but
    root and the invoking user could have written, or could swap for another file (its
    directory, or any directory above it, writable by others without the sticky bit
    /tmp has, or owned by someone else)."""
    uid, gid = _invoker()
    users, groups = {0, uid}, {0, gid}
    you = "root" if uid == 0 else f"root or you ({who(uid)})"
    mine = f"copy it into a directory of yours (cp {file} ~/) and use the copy"

    def others_can_write(s: os.stat_result) -> bool:
        return bool(s.st_mode & stat.S_IWOTH
                    or (s.st_mode & stat.S_IWGRP and s.st_gid not in groups))

    if st.st_uid not in users:
        raise _refused(file, f"not read as root: the file is owned by {who(st.st_uid)},"
                       f" not by {you}", "check what it does (its `exec` commands would run"
                       f" as root), then {mine}")
    if others_can_write(st):
        raise _refused(file, "not read as root: other users can write the file (mode"
                       f" {stat.S_IMODE(st.st_mode):04o})", f"chmod go-w {file}")
    # Every directory above the file, as opened (/proc/self/fd names the real file, after
    # any symbolic link) and as named (a link lives in the directory that holds it).
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # no /proc
        real = os.path.realpath(file)
    seen: set[str] = set()
    for start in (real, os.path.abspath(file)):
        d = os.path.dirname(start)
        while d not in seen:
            seen.add(d)
            ds = os.stat(d)
            if ds.st_uid not in users:
                raise _refused(file, f"not read as root: the directory {d} is owned by"
                               f" {who(ds.st_uid)}, who could replace the file", mine)
            if others_can_write(ds) and not ds.st_mode & stat.S_ISVTX:
                raise _refused(file, f"not read as root: other users can write the"
                               f" directory {d} (mode {stat.S_IMODE(ds.st_mode):04o}) and"
                               f" could replace the file", f"chmod go-w {d}, or {mine}")
            d = os.path.dirname(d)


def read(path: str | Path) -> TopologyFile:
    return parse(read_text(path), str(path))
