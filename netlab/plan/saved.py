"""A saved plan read back without pydantic, for the verbs that only read it (`netlab check
NAME`): importing pydantic and building the plan's validators costs more start-up than
the whole check of a small lab (~0.25 s of ~0.5 s).

The plan model (netlab/plan/model.py) stays the one definition of the plan. When a
saved plan has been validated by it (at deploy, or at any read through pydantic), the
validated value is cached next to plan.json, each model object tagged with its class
name. Reading the cache back gives `Record`s: read-only objects with the same attributes
(and Plan's lookups, PlanLookups), no validation needed. The cache is used only while
its key matches: a digest of this cache format, of model.py's source and of plan.json's
text. An edited plan.json or another netlab version (another model.py) misses, and the
reader falls back to pydantic (netlab/state/plans.py), which writes the cache again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from netlab.plan.model import NodePlan

CACHE_FORMAT = b"netlab plan cache 1\0"
_TAG = ""  # the key holding a model object's class name: never a field name


class PlanLookups:
    """Plan's own lookups, shared by the pydantic Plan and the cached record of one."""

    if TYPE_CHECKING:  # the fields of the class this is mixed into, not fields here
        nodes: list[NodePlan]
        switches: list[Any]

    def node(self, name: str) -> NodePlan:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    @property
    def namespaces(self) -> list[str]:
        return [n.netns for n in self.nodes] + [s.netns for s in self.switches]


class Record:
    """A model object of a cached plan: its fields as read-only attributes. Compared,
    hashed, copied (model_copy) and shown as the pydantic object it was made from, whose
    class name is `model`."""

    model: ClassVar[str] = ""

    def __init__(self, fields: dict[str, Any]) -> None:
        object.__setattr__(self, "__dict__", fields)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{self.model} is read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{self.model} is read-only")

    def __eq__(self, other: object) -> bool:
        if _model_of(other) != self.model:
            return NotImplemented
        return bool(self.__dict__ == {k: getattr(other, k, None) for k in self.__dict__})

    def __hash__(self) -> int:
        return hash((self.model, *self.__dict__.values()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"{self.model}({fields})"

    def model_copy(self, update: dict[str, Any] | None = None) -> Record:
        return type(self)({**self.__dict__, **(update or {})})


def _model_of(value: object) -> str | None:
    if isinstance(value, Record):
        return value.model
    return type(value).__name__ if hasattr(type(value), "model_fields") else None


class PlanRecord(PlanLookups, Record):
    model = "Plan"


_classes: dict[str, type[Record]] = {"Plan": PlanRecord}


def _record_class(name: str) -> type[Record]:
    if name not in _classes:
        _classes[name] = type(f"{name}Record", (Record,), {"model": name})
    return _classes[name]


class Uncacheable(ValueError):
    """A value the cache cannot hold exactly (the plan is then read through pydantic)."""


def encode(value: Any) -> Any:
    """A validated plan (or any value in it) as JSON data, model objects tagged."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    fields = getattr(type(value), "model_fields", None)
    if fields is not None:  # a pydantic model object
        return {_TAG: type(value).__name__, **{k: encode(getattr(value, k)) for k in fields}}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) and k != _TAG for k in value):
        return {k: encode(v) for k, v in value.items()}
    raise Uncacheable(f"cannot cache a {type(value).__name__}")


def _decode_object(d: dict[str, Any]) -> Any:
    name = d.pop(_TAG, None)
    return d if name is None else _record_class(name)(d)


def key(plan_text: str) -> str:
    """The digest a cache must carry to stand for this plan.json text."""
    h = hashlib.sha256(CACHE_FORMAT)
    h.update((Path(__file__).with_name("model.py")).read_bytes())
    h.update(b"\0")
    h.update(plan_text.encode("utf-8", errors="surrogateescape"))
    return h.hexdigest()


def dumps(plan: Any, plan_text: str) -> str:
    """The cache text of `plan`, validated by the model from `plan_text`: its key on the
    first line (checked before the rest is parsed), then the plan as JSON."""
    body = json.dumps(encode(plan), separators=(",", ":"))
    return f"{key(plan_text)}\n{body}\n"


def holds(cache_text: str | None, plan_text: str) -> bool:
    """Whether a cache (or its first line) is that of `plan_text`."""
    return cache_text is not None and cache_text.split("\n", 1)[0] == key(plan_text)


def loads(cache_text: str, plan_text: str) -> Any | None:
    """The plan held by a cache, or None when it is not that of `plan_text` (or damaged)."""
    if not holds(cache_text, plan_text):
        return None
    try:
        plan = json.loads(cache_text.split("\n", 1)[1], object_hook=_decode_object)
    except (ValueError, RecursionError, IndexError):
        return None
    return plan if isinstance(plan, PlanRecord) else None
