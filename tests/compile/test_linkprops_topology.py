"""Link properties in topology files: plan, per-end overrides, problems (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from netlab.api import load
from netlab.compile.compiler import compile_topology
from netlab.errors import TopologyError
from netlab.linux import kconfig
from netlab.plan.model import Plan, ShapingPlan
from netlab.topology.loader import parse

BASE = """
[lab]
name = "t7p"
[nodes.a]
[nodes.b]
[switches.lan]
"""


def compile_(text: str) -> tuple[Plan, list[str]]:
    c = compile_topology(parse(BASE + text, "t.toml"), "t.toml")
    return c.plan, [w.render("t.toml") for w in c.warnings]


def problems(text: str) -> list[tuple[str, str, str]]:
    with pytest.raises(TopologyError) as e:
        compile_topology(parse(BASE + text, "t.toml"), "t.toml")
    return [(p.path, p.message, p.fix) for p in e.value.problems if p.severity == "error"]


def test_link_values_shape_both_directions() -> None:
    plan, _ = compile_("""
[[links]]
endpoints = ["a", "b"]
rate = "10mbit"
loss = "1%"
""")
    (v,) = plan.veths
    want = ShapingPlan(rate_bit=10_000_000, loss_pct=1.0)
    assert v.a.shaping == want and v.b.shaping == want


def test_end_values_override_for_that_end_only() -> None:
    plan, _ = compile_("""
[[links]]
endpoints = ["a", "lan"]
rate = "10mbit"
props = [{ rate = "1mbit", mtu = 1400 }, { loss = "2%" }]
[[links]]
endpoints = ["b", "lan"]
""")
    v, plain = plan.veths
    assert (v.a.netns, v.a.ifname) == ("t7p-a", "eth0")
    assert v.a.shaping == ShapingPlan(rate_bit=1_000_000)  # what a sends: 1 Mbit/s upload
    assert v.b.shaping == ShapingPlan(rate_bit=10_000_000, loss_pct=2.0)  # switch port -> a
    assert (v.a.mtu, v.b.mtu) == (1400, 1500)
    assert plan.node("a").interfaces[0].mtu == 1400
    assert plain.a.shaping is None and plain.b.shaping is None


def test_plan_json_keeps_shaping() -> None:
    plan, _ = compile_('[[links]]\nendpoints = ["a", "b"]\nloss = "0.5%"\n')
    again = Plan.from_json(plan.to_json())
    assert again.veths[0].a.shaping == ShapingPlan(loss_pct=0.5)


def test_bad_values_are_problems_with_key_paths_and_fixes() -> None:
    found = problems("""
[[links]]
endpoints = ["a", "b"]
rate = "10mbps"
props = [{}, { jitter = "5ms", loss = "120%" }]
""")
    by_path = {p: (m, f) for p, m, f in found}
    assert '"10mbit"' in by_path["links[0].rate"][1]
    assert "delay" in by_path["links[0].props[1].jitter"][1]
    assert "100%" in by_path["links[0].props[1].loss"][1]
    # The bad link-wide rate is reported once, not once per end.
    assert [p for p, _, _ in found].count("links[0].rate") == 1


def test_numbers_without_units_are_refused_by_the_loader() -> None:
    with pytest.raises(TopologyError) as e:
        parse(BASE + '[[links]]\nendpoints = ["a", "b"]\nloss = 1\n', "t.toml")
    (p,) = e.value.problems
    assert p.path == "links[0].loss" and "no unit" in p.message


def test_props_needs_one_table_per_endpoint() -> None:
    with pytest.raises(TopologyError) as e:
        parse(BASE + '[[links]]\nendpoints = ["a", "b"]\nprops = [{}]\n', "t.toml")
    assert e.value.problems[0].path == "links[0].props"
    with pytest.raises(TopologyError) as e:
        parse(BASE + '[[links]]\nendpoints = ["a", "b"]\nprops = [{rat = "1mbit"}, {}]\n',
              "t.toml")
    assert 'did you mean "rate"' in e.value.problems[0].message


@pytest.mark.parametrize(("has_netem", "warned"), [(False, True), (None, True), (True, False)])
def test_delay_warns_unless_the_kernel_has_netem(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, has_netem: bool | None, warned: bool
) -> None:
    monkeypatch.setattr(kconfig, "config_option", lambda name: has_netem)
    (tmp_path / "t.toml").write_text(BASE + '[[links]]\nendpoints = ["a", "b"]\n'
                                     'delay = "20ms"\njitter = "5ms"\n')
    topo = load(tmp_path / "t.toml")  # validate's path: compile, then the backend's check
    assert topo.plan.veths[0].a.shaping == ShapingPlan(delay_ms=20.0, jitter_ms=5.0)
    netem = [w.render("t.toml") for w in topo.warnings if "CONFIG_NET_SCH_NETEM" in w.message]
    assert len(netem) == (1 if warned else 0)  # one warning per link, not per end
    if warned:
        assert netem[0].startswith("warning: t.toml: links[0].delay:")


def test_plan_text_shows_what_each_end_sends() -> None:
    from netlab.plan.render import plan_text

    plan, _ = compile_('[[links]]\nendpoints = ["a", "lan"]\nprops = [{}, {rate = "5mbit"}]\n'
                       '[[links]]\nendpoints = ["a", "b"]\nloss = "1%"\n')
    text = plan_text(plan)
    assert "port a-eth0          -> a:eth0  sends: rate 5mbit" in text
    assert "peer b:eth0  sends: loss 1%" in text
    assert text.count("sends:") == 3
