"""size + df: an ICMP echo of a given size with DF from A to B gets through, or is
refused with "fragmentation needed" naming the hop and its MTU; checked on the bundled
mtu lab (pc - r1 =1400= r2 - srv, srv's own MTU 9000 against r2's 1500)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from netlab.plan.model import ExpectPlan, Plan
from netlab.probes import check
from tests.support.compile import plan as compile_plan

pytestmark = pytest.mark.root

MTU = Path(__file__).parents[2] / "topologies" / "mtu.toml"

SIZES = """
[[expect]]
from = "pc"
to = "srv"
size = 1400
[[expect]]
from = "pc"
to = "srv"
size = 1500
df = true
reach = false
[[expect]]
from = "pc"
to = "srv"
size = 1500
df = false
[[expect]]
from = "srv"
to = "r2"
size = 2000
reach = false
[[expect]]
from = "pc"
to = "srv"
size = 1500
[[expect]]
from = "pc"
to = "srv"
size = 2000
[[expect]]
from = "pc"
to = "srv"
size = 1400
reach = false
"""


def sized(extra: str) -> list[ExpectPlan]:
    """`extra`'s [[expect]] tables compiled with the mtu lab (its own four dropped),
    without `within` (a failure is final at once)."""
    text = MTU.read_text().replace("[lab]\n", '[lab]\nwithin = "0s"\n')
    return compile_plan(text + "\n" + extra).expect[4:]


@pytest.fixture(scope="module")
def mtu(deploy: Callable[[Path], Plan]) -> Plan:
    return deploy(MTU)


def test_sizes_through_refused_and_silently_dropped(mtu: Plan) -> None:
    report = check(mtu, sized(SIZES))
    assert [r.passed for r in report] == [True, True, True, True, False, False, False], \
        [(r.title, r.seen) for r in report]
    seen = [r.seen for r in report]
    assert seen[0] == "echo reply from srv (10.0.2.2), 1400 bytes with DF got through"
    # The hop is named, with the MTU of its narrower next link.
    assert seen[1] == "ICMP fragmentation needed from r1 (10.0.1.1), mtu 1400"
    assert seen[2] == "echo reply from srv (10.0.2.2), 1500 bytes got through"
    assert seen[3].startswith("timeout (no reply, no ICMP error: dropped silently")
    assert seen[4] == "ICMP fragmentation needed from r1 (10.0.1.1), mtu 1400"
    # Larger than pc's own interface: refused before it leaves.
    assert seen[5].startswith("refused by pc itself: 2000 bytes with DF do not fit"), seen[5]
    assert seen[6] == "reached: echo reply from srv (10.0.2.2), 1400 bytes with DF got " \
        "through"
    assert report[1].title == "[5] pc -> srv (10.0.2.2) icmp size 1500 df: no reach"
    assert report[2].title == "[6] pc -> srv (10.0.2.2) icmp size 1500 no-df: reach"


def test_each_check_asks_the_path_again(mtu: Plan) -> None:
    """A refused size is refused again (not from the source's learnt path MTU: the
    probe is sent, r1 answers again), and a size that fits still passes after it."""
    exp = sized(SIZES)
    for _ in range(2):
        r = check(mtu, exp[1:2])[0]
        assert r.passed and "from r1" in r.seen, r.seen
    assert check(mtu, exp[0:1])[0].passed
