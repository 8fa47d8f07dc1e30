"""The web view's traces are tried again when a router's ICMP rate limit may have kept a
hop silent (a path drawn to the first silent hop would end at a router the packets went
through), and not when the path simply ends in silence (a black hole)."""

from __future__ import annotations

from typing import Any

import pytest

from netlab.probes.results import Hop, TraceResult
from netlab.web import source


def _trace(*hops: str | None, reached: bool = True) -> TraceResult:
    t = TraceResult("pc1", "pc2", "10.2.0.10")
    t.hops = [Hop(i, None, None, None) if h is None else Hop(i, f"10.0.0.{i}", h, 0.1)
              for i, h in enumerate(hops, 1)]
    t.reached = reached
    return t


class _Handle:
    def __init__(self, *traces: TraceResult):
        self.traces = list(traces)
        self.calls = 0

    def trace(self, src: str, dst: str, timeout: float) -> TraceResult:
        self.calls += 1
        return self.traces.pop(0)


@pytest.fixture(autouse=True)
def _no_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source, "RATELIMIT_S", 0.0)


def test_a_silent_router_before_the_target_is_asked_again() -> None:
    gap, full = _trace("r1", None, "r2", "pc2"), _trace("r1", "r3", "r2", "pc2")
    h: Any = _Handle(gap, full)
    assert source.patient_trace(h, "pc1", "pc2") is full and h.calls == 2


def test_the_retry_is_kept_only_when_it_heard_more() -> None:
    gap, worse = _trace("r1", None, "r2", "pc2"), _trace("r1", None, None, "pc2")
    h: Any = _Handle(gap, worse)
    assert source.patient_trace(h, "pc1", "pc2") is gap


def test_nothing_heard_is_asked_again() -> None:
    silent, heard = _trace(None, None, None, reached=False), _trace("r1", "pc2")
    h: Any = _Handle(silent, heard)
    assert source.patient_trace(h, "pc1", "pc2") is heard


@pytest.mark.parametrize("t", [_trace("r1", "r2", "pc2"),
                               _trace("r1", None, None, reached=False)],
                         ids=["complete", "black hole"])
def test_a_complete_path_or_a_black_hole_is_traced_once(t: TraceResult) -> None:
    h: Any = _Handle(t)
    assert source.patient_trace(h, "pc1", "pc2") is t and h.calls == 1
