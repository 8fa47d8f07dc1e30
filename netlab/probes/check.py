"""Running a lab's [[expect]] list. Each expectation is checked by the kinds that apply to
it (netlab.probes.kinds: icmp, tcp, udp, dns, ...), plus observers for `via` and
`source_nat` (sniffers in other nodes' namespaces) around a target kind's probe.
Expectations run concurrently; each reports what it saw. No kind is named here."""

from __future__ import annotations

import contextlib
import itertools
import random
import resource
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from netlab import backends
from netlab.probes import kinds, targets
from netlab.probes.kinds import Attempt, ExpectKind
from netlab.probes.results import CheckReport, CheckResult
from netlab.probes.retry import until_passes
from netlab.probes.sniff import Mark, Sniffer

if TYPE_CHECKING:
    from netlab.plan.model import ExpectPlan, Plan

# Process-wide on purpose: two checks running at once in one process (threads of a
# pytest run, the web view) must never hand out the same key to their sniffers.
_lock = threading.Lock()
_keys = itertools.count(random.randrange(33000, 50000))


def _next_key() -> int:
    """Distinct source ports / echo ids for concurrent expectations of one run."""
    with _lock:
        return 33000 + (next(_keys) - 33000) % 28000


def title(e: ExpectPlan) -> str:
    """`[2] pc1 -> pc2 (10.0.0.3) tcp/22: closed, via gw`: each kind words its part."""
    return kinds.title(e)


# Expectations run at once, so that failures cost about one timeout in all, not one each.
# How many at once grows with the lab, because what limits it is per node: every node's
# kernel answers with ICMP errors (port unreachable, time exceeded, packet too big) at a
# bounded rate, net.ipv4.icmp_msgs_burst = 50 per namespace and 6 per peer, and an answer
# it drops turns "closed" into "filtered". PER_NODE probes per node stay well inside it;
# a small lab still gets MIN_WORKERS. Each probe holds up to SOCKETS_PER_PROBE descriptors
# (raw L4, raw ICMP, a UDP sink, two sniffers), so the soft RLIMIT_NOFILE also caps it
# (less a reserve for what the process has open); and threads past MAX_WORKERS only queue
# on the GIL and the namespaces' socket creation.
PER_NODE = 8
MIN_WORKERS = 16
MAX_WORKERS = 256
SOCKETS_PER_PROBE = 5
_FD_RESERVE = 64


def worker_count(nodes: int, items: int, nofile: int | None = None) -> int:
    """Expectations checked at once in a lab of `nodes` nodes (see PER_NODE above)."""
    if nofile is None:
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        nofile = 1 << 20 if nofile == resource.RLIM_INFINITY else nofile
    by_descriptors = max(1, (nofile - _FD_RESERVE) // SOCKETS_PER_PROBE)
    return max(1, min(items, max(MIN_WORKERS, PER_NODE * nodes), MAX_WORKERS,
                      by_descriptors))


def check(plan: Plan, expectations: list[ExpectPlan] | None = None,
          workers: int | None = None, settle: float = 0.0) -> CheckReport:
    """Run `expectations` (default: the plan's) against the deployed lab, each retried
    while it fails for its `within` seconds (at least `settle` for those that must hold:
    right after deploy, services may still be starting). `workers`: how many at once
    (default: worker_count for the lab's size)."""
    items = plan.expect if expectations is None else expectations
    if settle > 0:
        items = [e.model_copy(update={"within": settle})
                 if e.within < settle and kinds.answered(e.proto, e.state, e.reach)
                 else e for e in items]
    if workers is None:
        workers = worker_count(len(plan.nodes), len(items))
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(items)))) as pool:
        results = list(pool.map(lambda e: check_one(plan, e), items))
    return CheckReport(plan.lab, results, round(time.monotonic() - start, 3))


def check_one(plan: Plan, e: ExpectPlan) -> CheckResult:
    """`e` checked, and re-checked while it fails until its `within` deadline; the
    result says how long it took when it needed more than one try."""
    start = time.monotonic()
    (passed, seen, details), tries = until_passes(lambda: _once(plan, e), e.within)
    took = time.monotonic() - start
    text = "; ".join(seen)
    if tries > 1 and not passed:  # a pass after retries shows its time (elapsed_s, tries)
        text += f" (still failing after {took:.1f} s, {tries} tries)"
    return CheckResult(e.index, title(e), passed, text, details, round(took, 3), tries,
                       e.points, None if passed else e.hint)


def _once(plan: Plan, e: ExpectPlan) -> tuple[bool, list[str], list[str]]:
    """One try of `e`: passed, what each kind saw, details of the observers."""
    passed, seen, details = True, [], []
    applying = kinds.applying(e)
    if not applying:  # a plan of a newer netlab, or a kind unregistered since
        passed = False
        seen.append(f"error: no expectation kind checks this (proto {e.proto!r}; known: "
                    + ", ".join(kinds.KINDS) + ")")
    for kind in applying:
        try:
            ok, text, more = _run_kind(plan, e, kind)
        except Exception as ex:  # a broken lab (missing namespace...) fails this item only
            ok, text, more = False, f"error: {ex}", []
        passed &= ok
        seen.append(text)
        details += more
    return passed, seen, details


def _run_kind(plan: Plan, e: ExpectPlan, kind: ExpectKind) -> tuple[bool, str, list[str]]:
    """Run one kind's probe for `e`, watched by `via`/`source_nat` sniffers if asked."""
    attempt = Attempt(plan, e, _next_key())
    if not kind.target:
        outcome = kind.run(attempt)
        return kind.passes(e, outcome), outcome.seen, []
    with _Observers(plan, e, kind, attempt.key) as watch:
        outcome = kind.run(attempt)
        ok = kind.passes(e, outcome)
        text = outcome.seen if ok or e.reach or e.state else "reached: " + outcome.seen
        ok, details = watch.verdict(ok)
    if details:
        text += " [" + "; ".join(details) + "]"
    return ok, text, details


class _Observers:
    """Sniffers opened before a probe is sent (in the `via` node, and in the target for
    `source_nat`) and read after it was answered: did the probe cross `via`, and with
    what source did it arrive?"""

    def __init__(self, plan: Plan, e: ExpectPlan, kind: ExpectKind, key: int):
        self.plan, self.e, self.kind = plan, e, kind
        self.mark = Mark(kind.name, key, e.port)
        self.stack = contextlib.ExitStack()
        self.via: Sniffer | None = None
        self.nat: Sniffer | None = None
        self.target_node: str | None = None

    def __enter__(self) -> _Observers:
        e, backend = self.e, backends.for_plan(self.plan)
        if not (e.via or e.source_nat) or self.kind.matches is None:
            return self
        with self.stack:
            if e.via:
                self.via = self.stack.enter_context(
                    Sniffer(self.plan.node(e.via).netns, backend))
            assert e.target_address is not None
            self.target_node = targets.owner(self.plan, e.target_address)
            if e.source_nat and self.target_node:
                self.nat = self.stack.enter_context(
                    Sniffer(self.plan.node(self.target_node).netns, backend))
            self.stack = self.stack.pop_all()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()

    def verdict(self, ok: bool) -> tuple[bool, list[str]]:
        """`ok` and the details, after what the observers saw."""
        details: list[str] = []
        e = self.e
        if (e.via or e.source_nat) and self.kind.matches is None:
            return False, [f"a {self.kind.name} probe cannot be followed (via, source_nat)"]
        if self.via is not None:
            seen_at = self.via.sightings(self.mark)
            if seen_at:
                details.append(f"path crossed {e.via} (seen on "
                               + ", ".join(sorted({s.ifname for s in seen_at})) + ")")
            else:
                ok = False
                details.append(f"path did not cross {e.via}: the probe never appeared there")
        if e.source_nat:
            nat_ok, text = self._source_nat()
            ok &= nat_ok
            details.append(text)
        return ok, details

    def _source_nat(self) -> tuple[bool, str]:
        e, where = self.e, self.target_node
        if self.nat is None:
            return False, f"cannot observe source NAT: {e.target_address} is not a lab node"
        arrived = {s.src for s in self.nat.sightings(self.mark) if not s.outgoing}
        if e.source_nat in arrived:
            return True, f"arrived at {where} from {e.source_nat}"
        if arrived:
            return False, f"arrived at {where} from {', '.join(sorted(arrived))}, " \
                          f"not {e.source_nat}"
        return False, f"never arrived at {where}, so no source to compare"
