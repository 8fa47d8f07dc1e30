"""What the kernel is given to shape a link end (netlab.backends.kernel.tc): tbf and
netem parameters, the qdisc layout, the nftables loss ruleset (pure, no root)."""

from __future__ import annotations

from netlab.backends.kernel import tc
from netlab.plan.model import ShapingPlan


def test_tbf_burst_holds_full_frames_and_10ms() -> None:
    o = tc.tbf_options(8_000_000, 1500)
    assert o["rate"] == 1_000_000  # bytes per second
    assert o["burst"] == 10_000  # 10 ms at 1 MB/s
    assert o["limit"] == 50_000 + 10_000  # 50 ms of queue, plus the burst
    slow = tc.tbf_options(64_000, 9000)
    assert slow["burst"] >= 2 * (9000 + 14)  # a jumbo frame always fits


def test_netem_parameters() -> None:
    s = ShapingPlan(delay_ms=20.0, jitter_ms=5.0, loss_pct=1.5)
    assert tc.netem_options(s) == {"limit": 1000, "delay": 20_000, "jitter": 5_000,
                                   "loss": 1.5}
    assert tc.netem_options(ShapingPlan(loss_pct=3.0)) == {"limit": 1000, "loss": 3.0}


def test_qdisc_layout_with_netem() -> None:
    s = ShapingPlan(rate_bit=10_000_000, delay_ms=20.0, loss_pct=1.0)
    root, child = tc.qdiscs(s, 1500, netem=True)
    assert (root.kind, root.handle, root.parent) == ("netem", 0x10000, None)
    assert (child.kind, child.handle, child.parent) == ("tbf", 0x100000, 0x10001)


def test_qdisc_layout_without_netem() -> None:
    # Loss goes to nftables on the peer; only the rate is a qdisc.
    s = ShapingPlan(rate_bit=10_000_000, loss_pct=1.0)
    (only,) = tc.qdiscs(s, 1500, netem=False)
    assert (only.kind, only.handle, only.parent) == ("tbf", 0x10000, None)
    assert tc.qdiscs(ShapingPlan(loss_pct=5.0), 1500, netem=False) == []
    assert tc.qdiscs(None, 1500, netem=True) == []


def test_loss_ruleset() -> None:
    text = tc.loss_ruleset("pc1-eth0", 2.5)
    assert "table netdev netlab_loss {" in text
    assert 'type filter hook ingress device "pc1-eth0" priority 0; policy accept;' in text
    assert "add rule netdev netlab_loss loss-pc1-eth0 numgen random mod 10000 < 250 " \
           "counter drop" in text
    assert tc.parse_loss_rule(text) == 2.5
    everything = tc.loss_ruleset("eth0", 100.0)
    assert "numgen" not in everything and tc.parse_loss_rule(everything) == 100.0
    removal = tc.loss_ruleset("eth0", None)
    assert removal.rstrip().endswith("delete chain netdev netlab_loss loss-eth0")
    assert tc.parse_loss_rule("table netdev netlab_loss {\n}") is None
