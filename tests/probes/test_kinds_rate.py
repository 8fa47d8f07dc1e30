"""rate / rtt / loss bounds, on a lab with a shaped link (tbf: a-b at 4mbit) and a lossy
one (a-c: 20% each way, so about 36% of echo round trips lost)."""

from __future__ import annotations

import re

import pytest

from netlab.plan.model import Plan
from netlab.probes import check, kinds
from tests.support.deploy import Labs

pytestmark = pytest.mark.root

LAB = """
[lab]
name = "{name}"
within = "0s"
[nodes.a]
[nodes.b]
[nodes.c]
[nodes.d]
[[links]]
endpoints = ["a", "b"]
subnet = "10.62.0.0/30"
rate = "4mbit"
[[links]]
endpoints = ["a", "c"]
subnet = "10.63.0.0/30"
loss = "20%"
[[links]]
endpoints = ["a", "d"]
subnet = "10.64.0.0/30"
[[expect]]
from = "a"
to = "b"
rate = { min = "2mbit", max = "5mbit" }
[[expect]]
from = "a"
to = "b"
rate = { min = "10mbit", time = "500ms" }
[[expect]]
from = "a"
to = "d"
rate = { max = "5mbit", time = "500ms" }
[[expect]]
from = "a"
to = "d"
rtt = { max = "50ms", count = 20 }
[[expect]]
from = "a"
to = "d"
rtt = { max = "1us", count = 5 }
[[expect]]
from = "a"
to = "d"
loss = { max = "0%", count = 50 }
[[expect]]
from = "a"
to = "c"
loss = { min = "10%", max = "70%", count = 100 }
[[expect]]
from = "a"
to = "c"
loss = { max = "5%", count = 100 }
"""

MBIT = re.compile(r"^(\d+\.\d\d) mbit/s \((\d+) bytes in (0\.5|1) s\)$")


@pytest.fixture
def shaped(labs: Labs) -> Plan:
    return labs.lab(LAB)


def rate_of(seen: str) -> float:
    m = MBIT.match(seen)
    assert m, seen
    return float(m.group(1))


def test_rate_on_a_shaped_link_and_an_unshaped_one(shaped: Plan) -> None:
    e = shaped.expect
    assert kinds.title(e[0]) == "[0] a -> b (10.62.0.2) rate min 2mbit max 5mbit for 1s: within"
    # One at a time: each stream has the link to itself.
    first, slow, fast = (check(shaped, [x])[0] for x in e[:3])
    assert first.passed and 2 <= rate_of(first.seen) <= 4.4, first.seen
    assert not slow.passed and rate_of(slow.seen) < 4.4, slow.seen
    # veth without tbf runs far above 5mbit: a max bound fails, saying the rate.
    assert not fast.passed and rate_of(fast.seen) > 50, fast.seen


def test_rtt_and_loss_bounds(shaped: Plan) -> None:
    report = check(shaped, shaped.expect[3:])
    assert [r.passed for r in report] == [True, False, True, True, False], \
        [(r.title, r.seen) for r in report]
    assert re.fullmatch(r"rtt avg \d+\.\d{3} ms \(min \d+\.\d{3}, max \d+\.\d{3}\) over "
                        r"5/5 replies", report[1].seen), report[1].seen
    assert report[1].title == "[4] a -> d (10.64.0.2) rtt max 0.001ms over 5: within"
    assert report[2].seen == "0% lost (50/50 replies)"
    m = re.match(r"(\d+)% lost \((\d+)/100 replies\)", report[4].seen)
    assert m and 10 <= int(m.group(1)) <= 70, report[4].seen
    assert report[4].title == "[7] a -> c (10.63.0.2) loss max 5% over 100: within"
