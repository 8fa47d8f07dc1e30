"""Link property values: parsing, limits, describing (pure, no root). The kernel parameters
built from them: tests/backends/kernel/test_tc.py."""

from __future__ import annotations

import pytest

from netlab.compile import linkprops as lp
from netlab.plan.model import ShapingPlan


@pytest.mark.parametrize(("text", "bits"), [
    ("10mbit", 10_000_000), ("1.5mbit", 1_500_000), ("500kbit", 500_000),
    ("1gbit", 1_000_000_000), ("64000bit", 64_000), ("10Mbit", 10_000_000),
    ("10 mbit", 10_000_000), ("2mbit/s", 2_000_000),
])
def test_rates(text: str, bits: int) -> None:
    assert lp.parse_rate(text) == bits


@pytest.mark.parametrize(("value", "fix"), [
    ("10mbps", '"10mbit"'), ("10", '"10mbit"'), (10, "with a unit"), ("fast", "10mbit"),
    ("10furlongs", "kbit"), ("1bit", "8kbit"), ("40gbit", "32gbit"), (True, "with a unit"),
])
def test_bad_rates_say_how_to_fix(value: object, fix: str) -> None:
    with pytest.raises(lp.PropError) as e:
        lp.parse_rate(value)
    assert fix in e.value.fix


@pytest.mark.parametrize(("text", "ms"), [
    ("20ms", 20.0), ("1.5s", 1500.0), ("500us", 0.5), ("0ms", 0.0), ("2 ms", 2.0),
])
def test_times(text: str, ms: float) -> None:
    assert lp.parse_time(text) == ms


@pytest.mark.parametrize("value", ["20", "20min", "-5ms", 20, "2m"])
def test_bad_times(value: object) -> None:
    with pytest.raises(lp.PropError):
        lp.parse_time(value)


def test_loss() -> None:
    assert lp.parse_loss("1%") == 1.0
    assert lp.parse_loss("0.25%") == 0.25
    assert lp.parse_loss("100%") == 100.0
    for bad in ("1", "101%", "0.001%", 0.01, "-1%"):
        with pytest.raises(lp.PropError):
            lp.parse_loss(bad)


def test_shaping_collects_values_and_errors() -> None:
    s, errors = lp.shaping({"rate": "10mbit", "delay": "20ms", "jitter": "5ms", "loss": "1%"})
    assert errors == []
    assert s == ShapingPlan(rate_bit=10_000_000, delay_ms=20.0, jitter_ms=5.0, loss_pct=1.0)
    s, errors = lp.shaping({"loss": "0%", "delay": "0ms"})
    assert s is None and errors == []  # zero means none
    _, errors = lp.shaping({"jitter": "5ms"})
    assert [k for k, _ in errors] == ["jitter"] and "delay" in errors[0][1].fix
    _, errors = lp.shaping({"rate": "x", "loss": "2"})
    assert sorted(k for k, _ in errors) == ["loss", "rate"]


def test_describe_and_format_round_trip() -> None:
    s = ShapingPlan(rate_bit=1_500_000, delay_ms=0.5, jitter_ms=1000.0, loss_pct=0.25)
    assert lp.describe(s) == "rate 1.5mbit delay 500us jitter 1s loss 0.25%"
    assert lp.describe(None) == ""
    for bits in (8_000, 64_000, 1_000_000, 2_500_000_000, 12_345):
        assert lp.parse_rate(lp.format_rate(bits)) == bits
