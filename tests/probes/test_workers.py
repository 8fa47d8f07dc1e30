"""How many expectations `check` runs at once: it grows with the lab (check.worker_count),
and never exceeds that. Counted, not timed: every probe of a test kind waits until as many
probes as the limit are running together (pure, no lab deployed)."""

from __future__ import annotations

import threading

import pytest

from netlab.compile.compiler import compile_topology
from netlab.plan.model import Plan
from netlab.probes import kinds
from netlab.probes.check import (
    MAX_WORKERS,
    MIN_WORKERS,
    PER_NODE,
    SOCKETS_PER_PROBE,
    check,
    worker_count,
)
from netlab.probes.kinds import Attempt, ExpectKind, Outcome
from netlab.topology.loader import parse


def test_worker_count_scales_with_nodes_within_its_caps() -> None:
    big = 1 << 20  # descriptors are no limit here
    assert worker_count(2, 5, big) == 5  # never more than there are expectations
    assert worker_count(2, 100, big) == MIN_WORKERS  # a small lab: the floor
    assert worker_count(10, 500, big) == 10 * PER_NODE
    assert worker_count(100, 5000, big) == MAX_WORKERS
    # A low RLIMIT_NOFILE (ulimit -n 256): what the descriptors allow, at least one.
    assert worker_count(10, 500, 256) == (256 - 64) // SOCKETS_PER_PROBE
    assert worker_count(10, 500, 10) == 1
    assert worker_count(3, 0, big) == 1


def _plan(nodes: int, expectations: int) -> Plan:
    text = ['[lab]\nname = "twork"\n[switches.lan]\nsubnet = "10.70.0.0/22"\n']
    text += [f"[nodes.h{i}]\n[[links]]\nendpoints = [\"h{i}\", \"lan\"]\n"
             for i in range(nodes)]
    text += [f'[[expect]]\nfrom = "h{k % nodes}"\nto = "h{(k + 1) % nodes}"\nproto = "busy"\n'
             for k in range(expectations)]
    return compile_topology(parse("".join(text), "t.toml"), "t.toml").plan


class _Gate:
    """Each probe waits until `limit` probes run together (then all go on): the most that
    ever ran at once is the pool's size, whatever the timing."""

    def __init__(self, limit: int):
        self.limit, self.active, self.most = limit, 0, 0
        self.lock, self.full = threading.Lock(), threading.Event()

    def run(self, a: Attempt) -> Outcome:
        with self.lock:
            self.active += 1
            self.most = max(self.most, self.active)
            if self.active >= self.limit:
                self.full.set()
        # A safety net against a pool smaller than the limit, not a timing assertion:
        # `most` then stays below the limit and the test fails on it (once, not per round).
        if not self.full.wait(10):
            self.full.set()
        with self.lock:
            self.active -= 1
        return Outcome(True, "ok")


@pytest.mark.parametrize(("nodes", "expectations"), [(3, 40), (12, 150)])
def test_check_runs_as_many_at_once_as_the_lab_allows(nodes: int, expectations: int) -> None:
    limit = worker_count(nodes, expectations)
    assert limit == max(MIN_WORKERS, PER_NODE * nodes)  # 24, then 96: it grows with the lab
    gate = _Gate(limit)
    busy = ExpectKind(name="busy", description="a test's kind", port=False, target=True,
                      run=gate.run)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(kinds.KINDS, busy.name, busy)
        report = check(_plan(nodes, expectations))
    assert report.ok and len(report.results) == expectations
    assert gate.most == limit
