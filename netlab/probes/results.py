"""What probes found, as plain dataclasses that print, serialise to JSON and feed JUnit."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# ICMP(v6) errors worth naming; anything else prints as "type T code C".
_ICMP4 = {
    (3, 0): "net unreachable", (3, 1): "host unreachable", (3, 2): "protocol unreachable",
    (3, 3): "port unreachable", (3, 4): "fragmentation needed", (3, 9): "net prohibited",
    (3, 10): "host prohibited", (3, 13): "administratively prohibited",
    (11, 0): "time exceeded",
}
_ICMP6 = {
    (1, 0): "no route", (1, 1): "administratively prohibited", (1, 3): "address unreachable",
    (1, 4): "port unreachable", (1, 5): "source address failed policy",
    (1, 6): "reject route", (2, 0): "packet too big", (3, 0): "time exceeded",
}


def icmp_text(v6: bool, type_: int, code: int) -> str:
    table = _ICMP6 if v6 else _ICMP4
    return table.get((type_, code)) or table.get((type_, 0)) or f"ICMP type {type_} code {code}"


@dataclass
class Reply:
    """An echo reply."""

    seq: int
    address: str
    ttl: int | None
    rtt_ms: float
    size: int


@dataclass
class IcmpError:
    """An ICMP error about one of our probes: who sent it and what it says."""

    seq: int
    address: str
    node: str | None
    type: int
    code: int
    text: str
    rtt_ms: float

    def describe(self) -> str:
        if self.type < 0:  # refused locally before anything was sent
            return self.text
        who = f"{self.node} ({self.address})" if self.node else self.address
        return f"ICMP {self.text} from {who}"


@dataclass
class PingResult:
    source: str
    target: str
    address: str
    sent: int = 0
    replies: list[Reply] = field(default_factory=list)
    errors: list[IcmpError] = field(default_factory=list)
    note: str = ""  # what the target is, when that explains the result (a broadcast)

    @property
    def ok(self) -> bool:
        return bool(self.replies)

    @property
    def received(self) -> int:
        return len({r.seq for r in self.replies})

    @property
    def rtts(self) -> list[float]:
        return [r.rtt_ms for r in self.replies]

    @property
    def loss(self) -> float:
        """Fraction of requests without a reply, 0.0 .. 1.0."""
        return 1.0 - self.received / self.sent if self.sent else 1.0

    def seen(self) -> str:
        """One line saying what came back, for check tables."""
        if self.replies:
            return f"{self.received}/{self.sent} echo replies, rtt {min(self.rtts):.3f} ms"
        if self.errors:
            return self.errors[0].describe()
        return "timeout (no reply)" + (f"; {self.note}" if self.note else "")

    def summary_lines(self) -> list[str]:
        lines = [
            f"{self.sent} packets transmitted, {self.received} received, "
            f"{self.loss * 100:.0f}% packet loss"
            + (f", {len(self.errors)} errors" if self.errors else "")
        ]
        if self.rtts:
            import statistics  # here: its imports (fractions, decimal) cost every verb

            r = self.rtts
            lines.append(f"rtt min/avg/max/mdev = {min(r):.3f}/{statistics.fmean(r):.3f}/"
                         f"{max(r):.3f}/{statistics.pstdev(r):.3f} ms")
        if self.note:
            lines.append(self.note)
        return lines

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(ok=self.ok, received=self.received, loss=self.loss, rtts=self.rtts)
        return d


@dataclass
class PortResult:
    """A TCP or UDP probe: state is open/closed/filtered/unreachable (tcp) or
    reply/closed/unreachable/no-answer (udp)."""

    source: str
    target: str
    address: str
    proto: str
    port: int
    state: str
    detail: str
    rtt_ms: float | None = None
    hop: str | None = None  # who sent the RST, reply or ICMP error

    @property
    def ok(self) -> bool:
        return self.state in ("open", "reply")

    def seen(self) -> str:
        return self.detail

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d


@dataclass
class Hop:
    ttl: int
    address: str | None
    node: str | None
    rtt_ms: float | None
    note: str = ""  # e.g. "host unreachable" when the path ends in an error


@dataclass
class TraceResult:
    source: str
    target: str
    address: str
    hops: list[Hop] = field(default_factory=list)
    reached: bool = False

    @property
    def ok(self) -> bool:
        return self.reached

    def nodes(self) -> list[str]:
        return [h.node for h in self.hops if h.node]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d


@dataclass
class PingallResult:
    lab: str
    nodes: list[str]
    addresses: dict[str, str]
    reached: dict[str, dict[str, bool]]  # reached[src][dst]
    rtt_ms: dict[str, dict[str, float]]  # each answered pair's own round trip
    elapsed_s: float

    @property
    def pairs(self) -> int:
        return sum(len(row) for row in self.reached.values())

    @property
    def ok_pairs(self) -> int:
        return sum(v for row in self.reached.values() for v in row.values())

    @property
    def ok(self) -> bool:
        return self.ok_pairs == self.pairs

    def failures(self) -> list[tuple[str, str]]:
        return [(s, d) for s, row in self.reached.items() for d, v in row.items() if not v]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(pairs=self.pairs, ok_pairs=self.ok_pairs, ok=self.ok)
        return d


@dataclass
class CheckResult:
    """One [[expect]] and whether the lab met it."""

    index: int
    title: str  # "pc1 -> web (203.0.113.2) tcp/80: reach"
    passed: bool
    seen: str  # what was observed, in words
    details: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    tries: int = 1  # >1: it failed at first and was retried (its `within`)
    points: float = 1.0  # what it is worth; scored when it passed
    hint: str | None = None  # the expectation's hint, kept only when it failed

    @property
    def score(self) -> float:
        return self.points if self.passed else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CheckReport:
    lab: str
    results: list[CheckResult]
    elapsed_s: float

    @property
    def ok(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, i: int) -> CheckResult:
        return self.results[i]

    @property
    def score(self) -> float:
        return sum(r.score for r in self.results)

    @property
    def max_score(self) -> float:
        return sum(r.points for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {"lab": self.lab, "ok": self.ok, "elapsed_s": self.elapsed_s,
                "passed": len(self.results) - len(self.failed), "failed": len(self.failed),
                "score": self.score, "max_score": self.max_score,
                "results": [r.to_dict() | {"score": r.score} for r in self.results]}
