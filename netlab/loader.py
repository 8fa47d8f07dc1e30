"""TOML file -> validated TopologyFile, with every structural problem reported at once."""

from __future__ import annotations

import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from netlab.errors import Problem, TopologyError, did_you_mean, key_path
from netlab.model import TopologyFile


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that holds the key at loc[:-1], to name its valid keys."""
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


def _unwrap(tp: Any) -> Any:
    """Strip Optional/Annotated so that X | None -> X."""
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


def _keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _problem(err: Any) -> Problem:
    loc = tuple(err["loc"])
    # pydantic adds the branch it tried for unions (e.g. 'list[...]'); drop those parts
    loc = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in _TYPE_TAGS)))
    path = key_path(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        valid = _keys(model) if model else []
        key = str(loc[-1])
        return Problem(
            path, f"unknown key {key!r}{did_you_mean(key, valid)}",
            ("valid keys here: " + ", ".join(valid)) if valid else "remove it",
        )
    if kind == "missing":
        return Problem(path, f"required key {str(loc[-1])!r} is missing", "add it")
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    given = err.get("input")
    shown = f" (got {given!r})" if not isinstance(given, dict | list) and kind != "value_error" \
        else ""
    fix = {
        "literal_error": "use one of the values listed",
        "greater_than_equal": "use a larger value",
        "less_than_equal": "use a smaller value",
        "too_short": "add the missing entries",
        "too_long": "remove the extra entries",
    }.get(kind, "correct the value")
    if kind == "value_error" and "host bits" in msg:
        fix = "write the subnet's network address"
    return Problem(path, msg[0].lower() + msg[1:] + shown, fix)


_TYPE_TAGS = {"str", "int", "float", "bool", "IPv4Network", "IPv6Network", "IPv4Address",
              "IPv6Address", "IPv4Interface", "IPv6Interface", "function-before",
              "function-after", "literal['default']", "dict", "list"}


def parse(text: str, file: str) -> TopologyFile:
    """Parse and validate topology text; raise TopologyError with every problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise TopologyError(
            file, [Problem("", f"TOML syntax error: {e}", "correct the TOML at that line")]
        ) from None
    try:
        return TopologyFile.model_validate(raw)
    except ValidationError as e:
        errors = e.errors()
        # A union reports one error per branch; where a specific one exists, drop the
        # generic "wrong type" errors of the other branches at the same key.
        problems = sorted({_problem(err) for err in errors if not (
            err["type"] in _GENERIC and _same_key(err, errors))}, key=_order)
        raise TopologyError(file, problems) from None


_GENERIC = {"list_type", "string_type", "dict_type", "model_type", "int_type", "bool_type",
            "float_type", "int_parsing", "bool_parsing", "float_parsing", "literal_error"}


def _bare(loc: Any) -> str:
    return key_path(p for p in loc if not (isinstance(p, str) and ("[" in p or p in _TYPE_TAGS)))


def _same_key(err: Any, errors: list[Any]) -> bool:
    here = _bare(err["loc"])
    return any(x is not err and x["type"] not in _GENERIC and _bare(x["loc"]) == here
               for x in errors)


def _order(p: Problem) -> tuple[str, str]:
    return (p.path, p.message)


def read(path: str | Path) -> TopologyFile:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise TopologyError(str(path), [Problem("", f"cannot read the file: {e}",
                                                "check the path")]) from None
    return parse(text, str(path))
