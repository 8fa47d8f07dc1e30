"""Link properties, pure: parse "10mbit"/"20ms"/"1%", and build what the kernel is given.

Nothing here touches the system, so every value and parameter is unit-tested without
root. netlab/backends/kernel/shaping.py hands the results to the kernel: tbf (rate) and netem
(delay, jitter, loss) qdisc options over netlink, and an nftables ruleset that drops a
random share of packets where the kernel has no netem.

Semantics: the properties of a link end shape what that end SENDS (its egress), which is
what a slow or lossy wire does to the traffic entering it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from netlab.compile.firewall import ifname_literal
from netlab.plan.model import ShapingPlan

if TYPE_CHECKING:
    from netlab.errors import Problems
    from netlab.topology.model import Link, TopologyFile

# tbf's rate field is 32-bit bytes per second; above that the kernel needs RATE64.
RATE_MIN = 8_000  # 8 kbit/s: below this one full-size frame takes more than a second
RATE_MAX = 32_000_000_000
DELAY_MAX_MS = 60_000.0
LOSS_STEPS = 10_000  # loss resolution: 0.01 %
TBF_LATENCY_S = 0.05  # how long a packet may wait in the rate limiter's queue
NETEM_LIMIT = 1000  # packets netem holds (its default)
ETH_HLEN = 14
LOSS_TABLE = "netlab_loss"
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


# -- kernel parameters ------------------------------------------------------------------

@dataclass(frozen=True)
class Qdisc:
    """One qdisc to add: pyroute2 `tc("add", kind, index, handle, parent=..., **options)`."""

    kind: str
    handle: int
    parent: int | None  # None: root
    options: dict[str, int | float]


ROOT_HANDLE = 0x10000  # 1:
CHILD_PARENT = 0x10001  # 1:1, the class a classful root hands packets to
CHILD_HANDLE = 0x100000  # 10:


def tbf_options(rate_bit: int, mtu: int) -> dict[str, int | float]:
    """Token bucket: burst holds 10 ms of traffic but at least two full frames."""
    rate_bytes = rate_bit // 8
    burst = max(rate_bytes // 100, 2 * (mtu + ETH_HLEN))
    limit = int(rate_bytes * TBF_LATENCY_S) + burst
    return {"rate": rate_bytes, "burst": burst, "limit": limit}


def netem_options(s: ShapingPlan) -> dict[str, int | float]:
    """netem options as pyroute2 takes them: delay and jitter in microseconds, loss in %."""
    opts: dict[str, int | float] = {"limit": NETEM_LIMIT}
    if s.delay_ms:
        opts["delay"] = round(s.delay_ms * 1000)
    if s.jitter_ms:
        opts["jitter"] = round(s.jitter_ms * 1000)
    if s.loss_pct:
        opts["loss"] = s.loss_pct
    return opts


def qdiscs(s: ShapingPlan | None, mtu: int, netem: bool) -> list[Qdisc]:
    """The egress qdiscs of an end, root first.

    With netem: netem at the root (delay, jitter, loss) and tbf as its child, the layout
    the netem documentation gives for "delay plus rate". Without netem only tbf is used;
    loss is then done by `loss_ruleset` on the peer, and delay/jitter are refused earlier.
    """
    if is_empty(s):
        return []
    assert s is not None
    use_netem = netem and bool(s.delay_ms or s.jitter_ms or s.loss_pct)
    out = []
    if use_netem:
        out.append(Qdisc("netem", ROOT_HANDLE, None, netem_options(s)))
    if s.rate_bit:
        if use_netem:
            out.append(Qdisc("tbf", CHILD_HANDLE, CHILD_PARENT, tbf_options(s.rate_bit, mtu)))
        else:
            out.append(Qdisc("tbf", ROOT_HANDLE, None, tbf_options(s.rate_bit, mtu)))
    return out


def tc_commands(ifname: str, s: ShapingPlan | None, mtu: int, netem: bool) -> list[str]:
    """The same qdiscs as `tc` command lines: what a person would type to build them by
    hand (docs/links.md; unit-tested, since this kernel cannot run netem)."""
    out = []
    for q in qdiscs(s, mtu, netem):
        where = "root" if q.parent is None else f"parent {_handle(q.parent)}"
        head = f"tc qdisc add dev {ifname} {where} handle {_handle(q.handle)} {q.kind}"
        o = q.options
        if q.kind == "tbf":
            args = f"rate {format_rate(int(o['rate']) * 8)} burst {o['burst']} limit {o['limit']}"
        else:
            args = f"limit {o['limit']}"
            if "delay" in o:
                args += f" delay {format_time(o['delay'] / 1000)}"
                if "jitter" in o:
                    args += f" {format_time(o['jitter'] / 1000)}"
            if "loss" in o:
                args += f" loss {_num(float(o['loss']))}%"
        out.append(f"{head} {args}")
    return out


def _handle(h: int) -> str:
    return f"{h >> 16:x}:{h & 0xFFFF:x}" if h & 0xFFFF else f"{h >> 16:x}:"


def loss_threshold(pct: float) -> int:
    return round(pct * LOSS_STEPS / 100)


def loss_chain(ifname: str) -> str:
    # A prefix keeps interface names clear of nft keywords; the name is checked first.
    ifname_literal(ifname)
    return f"loss-{ifname}"


def loss_ruleset(ifname: str, pct: float | None) -> str:
    """nft batch that sets (or, with no loss, removes) the random drop on `ifname`'s INGRESS.

    It runs in the namespace of the receiving end: a drop at ingress is silent, as on a
    real wire, while a drop at the sender's egress is reported back to local senders as
    an error (ping and TCP would just retry). Declaring the chain before deleting it makes
    the removal work whether or not it existed, in one atomic batch.
    """
    chain = loss_chain(ifname)
    lines = [
        f"table netdev {LOSS_TABLE} {{",
        f"\tchain {chain} {{",
        f"\t\ttype filter hook ingress device {ifname_literal(ifname)} priority 0;"
        " policy accept;",
        "\t}",
        "}",
    ]
    if pct:
        # numgen's value is below LOSS_STEPS, so 100 % cannot be "< N": it drops everything.
        match = "" if loss_threshold(pct) >= LOSS_STEPS else \
            f"numgen random mod {LOSS_STEPS} < {loss_threshold(pct)} "
        lines.append(f"flush chain netdev {LOSS_TABLE} {chain}")
        lines.append(f"add rule netdev {LOSS_TABLE} {chain} {match}counter drop")
    else:
        lines.append(f"delete chain netdev {LOSS_TABLE} {chain}")
    return "\n".join(lines) + "\n"


_LOSS_RULE = re.compile(r"numgen random mod (\d+) < (\d+)")


def parse_loss_rule(listing: str) -> float | None:
    """The loss percentage a `list chain` output of loss_ruleset's chain drops, or None."""
    m = _LOSS_RULE.search(listing)
    if m is None:
        return 100.0 if re.search(r"\bdrop\b", listing) else None
    return round(int(m.group(2)) * 100 / int(m.group(1)), 2)


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
