"""The netlink calls shaping makes on a kernel WITH netem (this VM has none), recorded
through a stand-in IPRoute; and pyroute2 accepting the parameters tc.py builds."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from netlab.backends.kernel import shaping, tc
from netlab.plan.model import ShapingPlan, VethEnd


class FakeIPRoute:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def link_lookup(self, ifname: str) -> list[int]:
        return [7]

    def tc(self, command: str, kind: str | None = None, index: int | None = None,
           **kw: Any) -> None:
        self.calls.append((command, kind, index, kw))


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeIPRoute:
    ipr = FakeIPRoute()

    @contextmanager
    def ipr_in(netns: str) -> Iterator[FakeIPRoute]:
        yield ipr

    monkeypatch.setattr(shaping, "ipr_in", ipr_in)
    monkeypatch.setattr(shaping, "netem_available", lambda: True)
    nft_calls: list[str] = []
    monkeypatch.setattr(shaping, "nft", lambda netns, text, check=True: nft_calls.append(text))
    monkeypatch.setattr(shaping, "_has_loss_table", lambda netns: False)
    ipr.nft_calls = nft_calls  # type: ignore[attr-defined]
    return ipr


END = VethEnd(netns="t7g-a", ifname="eth0", mtu=1500)
PEER = VethEnd(netns="t7g-b", ifname="eth0", mtu=1500)


def test_netem_root_and_tbf_child(fake: FakeIPRoute) -> None:
    s = ShapingPlan(rate_bit=10_000_000, delay_ms=20.0, jitter_ms=5.0, loss_pct=1.0)
    shaping.apply_end(END, PEER, s)
    assert fake.calls == [
        ("del", None, 7, {"handle": 0, "root": True}),
        ("add", "netem", 7, {"handle": 0x10000, "root": True, "limit": 1000,
                             "delay": 20_000, "jitter": 5_000, "loss": 1.0}),
        ("add", "tbf", 7, {"handle": 0x100000, "parent": 0x10001, "rate": 1_250_000,
                           "burst": 12_500, "limit": 75_000}),
    ]
    assert fake.nft_calls == []  # type: ignore[attr-defined]  # netem does the loss


def test_fresh_links_are_not_cleared_first(fake: FakeIPRoute) -> None:
    shaping.apply_end(END, PEER, ShapingPlan(loss_pct=2.0), fresh=True)
    assert [c[0] for c in fake.calls] == ["add"]


def test_without_netem_loss_goes_to_the_peer(fake: FakeIPRoute,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shaping, "netem_available", lambda: False)
    shaping.apply_end(END, PEER, ShapingPlan(rate_bit=1_000_000, loss_pct=5.0), fresh=True)
    assert [(c[1], c[3].get("root")) for c in fake.calls] == [("tbf", True)]
    assert fake.nft_calls == [tc.loss_ruleset("eth0", 5.0)]  # type: ignore[attr-defined]
    with pytest.raises(shaping.ShapingError, match="CONFIG_NET_SCH_NETEM"):
        shaping.apply_end(END, PEER, ShapingPlan(delay_ms=5.0))


def test_pyroute2_encodes_the_parameters() -> None:
    from pyroute2.netlink.rtnl.tcmsg import sched_netem, sched_tbf
    from pyroute2.netlink.rtnl.tcmsg.common import tick_in_usec

    opts = sched_netem.get_parameters(
        tc.netem_options(ShapingPlan(delay_ms=20.0, jitter_ms=5.0, loss_pct=1.0)))
    assert opts["delay"] == pytest.approx(20_000 * tick_in_usec)
    assert opts["jitter"] == pytest.approx(5_000 * tick_in_usec)
    assert opts["loss"] == int(0xFFFFFFFF * 0.01)
    parms = sched_tbf.get_parameters(tc.tbf_options(8_000_000, 1500))
    tbf = dict(parms["attrs"])["TCA_TBF_PARMS"]
    assert tbf["rate"] == 1_000_000 and tbf["limit"] == 60_000
