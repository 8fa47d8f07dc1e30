"""netlab.probes.retry: a failing expectation is re-tried until it passes or its `within`
deadline ends (a lab converging, a service starting). Pure: the try is a stand-in."""

from __future__ import annotations

import time

from netlab.probes.retry import until_passes


def test_until_passes_stops_at_the_first_pass() -> None:
    tries: list[float] = []

    def attempt() -> tuple[bool, str]:
        tries.append(time.monotonic())
        return len(tries) >= 3, f"try {len(tries)}"

    (ok, seen), n = until_passes(attempt, within=5.0, pause=0.01)
    assert (ok, seen, n) == (True, "try 3", 3)


def test_until_passes_gives_up_at_the_deadline() -> None:
    t0 = time.monotonic()
    (ok, _), n = until_passes(lambda: (False, ""), within=0.2, pause=0.05)
    took = time.monotonic() - t0
    assert not ok and 2 <= n <= 5 and 0.15 <= took < 0.5


def test_no_within_means_one_try() -> None:
    (ok, _), n = until_passes(lambda: (False, ""), within=0.0)
    assert (ok, n) == (False, 1)
