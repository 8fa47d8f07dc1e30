"""`within`: a failing expectation is re-tried until it passes or its deadline ends, and
says how long it took; without one, a check right after `Lab.deploy` settles for 5 s (so
that `lab.check()` does not fail on a service still starting), a later one does not."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from netlab.plan.model import Plan
from netlab.probes import check
from tests.support.compile import plan as compile_plan
from tests.support.deploy import Labs
from tests.support.names import renamed_copy, unique_name
from tests.support.traffic import Listeners

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.root
def test_a_late_listener_passes_within_and_says_how_long(t4a: Plan,
                                                         listeners: Listeners) -> None:
    port = 8181
    e = t4a.expect[1].model_copy(update={  # pc1 -> web tcp
        "port": port, "via": None, "source_nat": None, "within": 5.0, "timeout": 0.3})
    late = threading.Timer(1.0, listeners.tcp, (t4a.node("web").netns, port))
    late.start()
    try:
        r = check(t4a, [e])[0]
    finally:
        late.join()
    assert r.passed, r.seen
    assert r.tries > 1 and 0.9 <= r.elapsed_s < 3.0, r
    assert r.seen.startswith("SYN-ACK from web")


@pytest.mark.root
def test_without_within_a_failure_is_final_and_with_it_bounded(t4a: Plan) -> None:
    e = t4a.expect[1].model_copy(update={
        "port": 8182, "via": None, "source_nat": None, "within": 0.0, "timeout": 0.3})
    t0 = time.monotonic()
    r = check(t4a, [e])[0]
    assert not r.passed and r.tries == 1 and time.monotonic() - t0 < 1.0
    r = check(t4a, [e.model_copy(update={"within": 1.0})])[0]
    assert not r.passed and r.tries > 1 and 0.7 <= r.elapsed_s < 2.0  # last pause skipped
    assert r.seen.startswith("RST from web") and "still failing after" in r.seen


TOPO = """[lab]
name = "wi"
{lab}
[nodes.a]
[nodes.b]
[[links]]
endpoints = ["a", "b"]
[[expect]]
from = "a"
to = "b"
{e0}
[[expect]]
from = "a"
to = "b"
reach = false
"""


def test_within_defaults() -> None:
    def within(lab: str = "", e0: str = "") -> list[float]:
        return [e.within for e in compile_plan(TOPO.format(lab=lab, e0=e0)).expect]

    assert within() == [0.0, 0.0]  # final at once (only a check right after deploy settles)
    assert within(e0='within = "30s"') == [30.0, 0.0]
    assert within(lab='within = "2s"') == [2.0, 2.0]
    assert within(lab='within = "2s"', e0='within = "500ms"') == [0.5, 2.0]


@pytest.mark.root
@pytest.mark.parametrize("name, times", [("natgw", 10), ("dualstack", 5)])
def test_deploy_then_check_passes_every_time(labs: Labs, tmp_path: Path, name: str,
                                             times: int) -> None:
    """The README's example: deploy natgw, check at once. Its web server (exec) needs a
    moment to listen; before `within`, this failed 2-4 times in 5. dualstack: IPv6 across
    a router right after deploy (duplicate address detection still running)."""
    for _ in range(times):
        path = renamed_copy(REPO / "topologies" / f"{name}.toml", unique_name("t"), tmp_path)
        lab = labs.deploy(path)
        try:
            report = lab.check()
            assert report.ok, [(r.title, r.seen) for r in report.failed]
        finally:
            lab.destroy()


@pytest.mark.root
def test_a_later_check_does_not_settle(t4a: Plan) -> None:
    """A Lab not deployed by this object (attach, `netlab check` by hand) fails at once:
    a broken lab is reported fast, and its retries would not drain ICMP error limits."""
    from netlab.lab import Lab

    e = t4a.expect[1].model_copy(update={"port": 8183, "via": None, "source_nat": None,
                                         "timeout": 0.3})
    assert e.within == 0
    lab = Lab(t4a)
    r = lab.check([e])[0]
    assert not r.passed and r.tries == 1
    lab.deployed_at = time.monotonic() - 4.0  # as if Lab.deploy had made it 4 s ago
    r = lab.check([e])[0]
    assert not r.passed and r.tries > 1 and 0.6 <= r.elapsed_s < 1.6, r
