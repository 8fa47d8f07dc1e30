"""Re-trying a failing expectation until its deadline (`within`): a lab converges
(routing daemons, services started by `exec`, IPv6 duplicate address detection) while it
is already being checked, so a first failure is not yet the verdict."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T", bound=tuple)

PAUSE_S = 0.25  # between tries: a probe costs about a round trip, a pause bounds the load
# Right after deploy, expectations that need an answer are re-tried until this long after
# it (`deploy --check`, Lab.check(), and `netlab check` run moments after `netlab deploy`:
# Lab.attach reads when the deploy finished): a service started by `exec` may not listen
# yet, IPv6 duplicate address detection may still run. Later checks are final at once
# unless the file says `within`: retrying a broken lab would only make it slow and drain
# the kernel's ICMP error limits.
SETTLE_S = 5.0


def settle_left(deployed_at: float | None) -> float:
    """Seconds left of the settle window of a lab deployed at `deployed_at` (monotonic
    clock; None: not deployed by this process)."""
    if deployed_at is None:
        return 0.0
    return max(0.0, deployed_at + SETTLE_S - time.monotonic())


def until_passes(attempt: Callable[[], T], within: float,
                 pause: float = PAUSE_S) -> tuple[T, int]:
    """Run `attempt` (returning a tuple whose first item says it passed) until it passes
    or `within` seconds have gone by; its last result and the number of tries. No try
    starts after the deadline, so a failure costs `within` plus one probe's timeout."""
    deadline = time.monotonic() + within
    tries = 0
    while True:
        tries += 1
        result = attempt()
        if result[0] or time.monotonic() + pause >= deadline:
            return result, tries
        time.sleep(pause)
