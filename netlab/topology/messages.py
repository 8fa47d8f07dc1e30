"""pydantic's validation errors -> Problems a student can act on.

pydantic's messages are written for programmers ("list should have at least 2 items after
validation, not 1"); here each error becomes a Problem: the key path, what is wrong in
plain words, and how to fix it.
"""

from __future__ import annotations

import re
import tomllib
import types
import typing
from typing import Any

from pydantic import BaseModel

from netlab.errors import Problem, did_you_mean, key_path
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


def clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # pydantic adds the union branch it tried (e.g. 'list[...]', 'str'); drop those parts.
    return tuple(p for p in loc if not (isinstance(p, str) and _is_tag(p)))


def _is_tag(part: str) -> bool:
    return "[" in part or part in _TYPE_TAGS


_TYPE_TAGS = {"str", "int", "float", "bool", "IPv4Network", "IPv6Network", "IPv4Address",
              "IPv6Address", "IPv4Interface", "IPv6Interface", "function-before",
              "function-after", "literal['default']", "dict", "list", "FileSpec"}


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
    loc = clean_loc(tuple(err["loc"]))
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


def toml_problem(e: tomllib.TOMLDecodeError) -> Problem:
    text = str(e)
    m = _TOML_POS.match(text)
    if m is None:
        return Problem("", f"TOML syntax error: {text}", "correct the TOML syntax")
    what, line, col = m.group(1), m.group(2), m.group(3)
    return Problem("", f"TOML syntax error at line {line}, column {col}: "
                   f"{what[0].lower() + what[1:]}", f"correct line {line} of the file")


def problems_of(errors: list[Any]) -> list[Problem]:
    """One problem per key: union branches and duplicate reports are merged."""
    by_key: dict[str, list[Any]] = {}
    for err in errors:
        by_key.setdefault(key_path(clean_loc(tuple(err["loc"]))), []).append(err)
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
