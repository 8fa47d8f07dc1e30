"""Link properties, pure: parse "10mbit"/"20ms"/"1%" into each link end's ShapingPlan.

What the kernel is given for a plan (tbf and netem options, the random-loss ruleset) is
the backend's: netlab/backends/kernel/tc.py.

Semantics: the properties of a link end shape what that end SENDS (its egress), which is
what a slow or lossy wire does to the traffic entering it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from netlab.plan.model import ShapingPlan

if TYPE_CHECKING:
    from netlab.errors import Problems
    from netlab.topology.model import Link, TopologyFile

# tbf's rate field is 32-bit bytes per second; above that the kernel needs RATE64.
RATE_MIN = 8_000  # 8 kbit/s: below this one full-size frame takes more than a second
RATE_MAX = 32_000_000_000
DELAY_MAX_MS = 60_000.0
LOSS_STEPS = 10_000  # loss resolution: 0.01 %
PROPS = ("rate", "delay", "jitter", "loss")

_RATE_UNITS = {"bit": 1, "kbit": 10**3, "mbit": 10**6, "gbit": 10**9}
_TIME_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
_NUMBER = r"(\d+(?:\.\d+)?)"
_RATE_RE = re.compile(rf"^{_NUMBER}\s*([a-z]+)(?:/s)?$")
_TIME_RE = re.compile(rf"^{_NUMBER}\s*([a-z]+)$")
_LOSS_RE = re.compile(rf"^{_NUMBER}\s*%$")


class PropError(ValueError):
    """A property value that cannot be used; carries a fix for the person who wrote it."""

    def __init__(self, message: str, fix: str):
        super().__init__(message)
        self.fix = fix


def _text(value: object, example: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str):
        raise PropError(f"{value!r} has no unit", f'write it as a string with a unit: "{example}"')
    return value.strip().lower()


def parse_rate(value: object) -> int:
    """'10mbit' -> 10_000_000 (bits per second; k/m/g are powers of 1000 as in tc)."""
    text = _text(value, "10mbit")
    m = _RATE_RE.match(text)
    if m is None:
        raise PropError(f"{value!r} is not a rate", 'write a number and a unit: "10mbit"')
    number, unit = m.groups()
    if unit not in _RATE_UNITS:
        if unit.endswith("bps"):
            # tc reads "mbps" as megaBYTES per second; people usually mean megabits.
            raise PropError(f"{value!r} is ambiguous (tc reads 'bps' as bytes per second)",
                            f'write bits per second: "{number}{unit[:-3]}bit"')
        raise PropError(f"{value!r} has an unknown unit {unit!r}",
                        "use one of: " + ", ".join(_RATE_UNITS))
    bits = round(float(number) * _RATE_UNITS[unit])
    if not RATE_MIN <= bits <= RATE_MAX:
        raise PropError(f"rate {value!r} is out of range", "use a rate from 8kbit to 32gbit")
    return bits


def parse_time(value: object) -> float:
    """'20ms' -> 20.0, '1.5s' -> 1500.0, '500us' -> 0.5 (milliseconds, microsecond steps)."""
    text = _text(value, "20ms")
    m = _TIME_RE.match(text)
    if m is None:
        raise PropError(f"{value!r} is not a duration", 'write a number and a unit: "20ms"')
    number, unit = m.groups()
    if unit not in _TIME_UNITS:
        raise PropError(f"{value!r} has an unknown unit {unit!r}",
                        "use one of: " + ", ".join(_TIME_UNITS))
    ms = round(float(number) * _TIME_UNITS[unit], 3)
    if ms > DELAY_MAX_MS:
        raise PropError(f"{value!r} is longer than a minute", "use at most 60s")
    return ms


def parse_loss(value: object) -> float:
    """'1%' -> 1.0, '0.25%' -> 0.25 (percent, in steps of 0.01)."""
    text = _text(value, "1%")
    m = _LOSS_RE.match(text)
    if m is None:
        raise PropError(f"{value!r} is not a percentage", 'write a number and "%": "1%"')
    pct = float(m.group(1))
    if pct > 100:
        raise PropError(f"loss {value!r} is above 100%", "use a value from 0% to 100%")
    if abs(round(pct * 100) - pct * 100) > 1e-6:
        raise PropError(f"loss {value!r} is finer than 0.01%", "use at most two decimals")
    return round(pct, 2)


_PARSERS = {"rate": parse_rate, "delay": parse_time, "jitter": parse_time, "loss": parse_loss}


def shaping(values: dict[str, object]) -> tuple[ShapingPlan | None, list[tuple[str, PropError]]]:
    """Raw property values (None = unset) -> the plan's shaping, and (key, error) pairs.

    Zero delay and zero loss mean "none"; jitter needs a delay (netem varies a delay).
    """
    parsed: dict[str, float | int | None] = {}
    errors: list[tuple[str, PropError]] = []
    for key in PROPS:
        raw = values.get(key)
        if raw is None:
            continue
        try:
            parsed[key] = _PARSERS[key](raw)
        except PropError as e:
            errors.append((key, e))
    if parsed.get("jitter") and not parsed.get("delay") and "delay" not in dict(errors):
        errors.append(("jitter", PropError("jitter needs a delay to vary",
                                           'add delay = "20ms" (jitter varies it)')))
    plan = ShapingPlan(
        rate_bit=parsed.get("rate"),  # type: ignore[arg-type]
        delay_ms=parsed.get("delay") or None,
        jitter_ms=parsed.get("jitter") or None,
        loss_pct=parsed.get("loss") or None,
    )
    return (None if is_empty(plan) else plan), errors


def is_empty(s: ShapingPlan | None) -> bool:
    return s is None or not (s.rate_bit or s.delay_ms or s.jitter_ms or s.loss_pct)


def needs_netem(s: ShapingPlan | None) -> bool:
    """Delay and jitter exist only in netem; loss and rate have fallbacks."""
    return s is not None and bool(s.delay_ms or s.jitter_ms)


# -- text -------------------------------------------------------------------------------

def format_rate(bits: int) -> str:
    for unit, factor in (("gbit", 10**9), ("mbit", 10**6), ("kbit", 10**3)):
        if bits >= factor and bits % (factor // 1000 or 1) == 0:
            return f"{_num(bits / factor)}{unit}"
    return f"{bits}bit"


def format_time(ms: float) -> str:
    if ms >= 1000 and ms % 1000 == 0:
        return f"{_num(ms / 1000)}s"
    if ms < 1:
        return f"{_num(ms * 1000)}us"
    return f"{_num(ms)}ms"


def _num(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".")


def describe(s: ShapingPlan | None) -> str:
    """'rate 10mbit delay 20ms jitter 5ms loss 1%', or '' when unshaped."""
    if is_empty(s):
        return ""
    assert s is not None
    parts = []
    if s.rate_bit:
        parts.append(f"rate {format_rate(s.rate_bit)}")
    if s.delay_ms:
        parts.append(f"delay {format_time(s.delay_ms)}")
    if s.jitter_ms:
        parts.append(f"jitter {format_time(s.jitter_ms)}")
    if s.loss_pct:
        parts.append(f"loss {_num(s.loss_pct)}%")
    return " ".join(parts)


# -- the pass over a topology's links ---------------------------------------------------

def end_values(link: Link, i: int, j: int) -> tuple[dict[str, object], dict[str, str]]:
    """Link end j's properties (its own, else the link's) and the key path of each."""
    end = link.props[j] if link.props is not None else None
    values: dict[str, object] = {}
    paths: dict[str, str] = {}
    for key in PROPS:
        own = getattr(end, key) if end is not None else None
        values[key] = own if own is not None else getattr(link, key)
        paths[key] = f"links[{i}].props[{j}].{key}" if own is not None else f"links[{i}].{key}"
    return values, paths


def plain(link: Link) -> bool:
    """No property on the link nor on its ends: most links."""
    return link.props is None and all(getattr(link, k) is None for k in PROPS)


def link_shaping(tf: TopologyFile, p: Problems) -> dict[tuple[int, int], ShapingPlan | None]:
    """Shaping of each link end (link index, endpoint index); per-end values override."""
    out: dict[tuple[int, int], ShapingPlan | None] = {}
    for i, link in enumerate(tf.links):
        if plain(link):
            out[(i, 0)] = out[(i, 1)] = None  # the common case, in a tenth of the time
            continue
        for j in range(2):
            values, paths = end_values(link, i, j)
            planned, errors = shaping(values)
            for key, e in errors:
                problem = (paths[key], f"{e}", e.fix)
                if problem not in [(x.path, x.message, x.fix) for x in p.errors]:
                    p.error(*problem)
            out[(i, j)] = planned
    return out


def netem_paths(tf: TopologyFile) -> list[str]:
    """Key paths of the links whose delay/jitter need the kernel's netem qdisc, one per
    link. Compile does not ask the kernel: the backend's preflight does, for `validate`'s
    warning (netlab.backends.kernel.shaping.netem_warnings) and for deploy."""
    out = []
    for i, link in enumerate(tf.links):
        if plain(link):
            continue
        for j in range(2):
            values, paths = end_values(link, i, j)
            if needs_netem(shaping(values)[0]):
                out.append(paths["delay" if values["delay"] is not None else "jitter"])
                break
    return out
