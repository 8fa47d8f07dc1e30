"""The pieces of `netlab check`'s fast path, without a lab: the saved plan's cache
(netlab/plan/saved.py) gives records equal, field by field, to the pydantic plan, and is
used only for the plan text and model it was made from; the fast path's command-line
reader takes only what it fully understands and leaves the rest to typer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from netlab.cli import fast
from netlab.plan import saved
from netlab.plan.model import Plan
from netlab.state import plans
from tests.support.compile import plan

# A bit of everything the plan holds: a switch, a router with NAT, routes, sysctls,
# an uplink-less lab with expectations of several kinds (nested models, lists, dicts).
TOPOLOGY = """
[lab]
name = "tfastplan"
[nodes.pc]
[nodes.gw]
kind = "router"
nat = { masquerade = ["eth1"] }
sysctl = { "net.ipv4.icmp_ratelimit" = 0 }
[nodes.web]
exec = ["sleep 1000"]
[switches.lan]
subnet = "10.5.0.0/24"
[[links]]
endpoints = ["pc", "lan"]
[[links]]
endpoints = ["gw:eth0", "lan"]
[[links]]
endpoints = ["gw:eth1", "web"]
subnet = "10.6.0.0/30"
[[expect]]
from = "pc"
to = "web"
proto = "tcp"
port = 80
state = "open"
within = "2s"
points = 3
hint = "is the server up?"
[[expect]]
from = "pc"
route = { to = "default", via = "10.5.0.2" }
[[expect]]
from = "web"
command = { run = "true", exit = 0, output = "x" }
[[expect]]
from = "pc"
to = "web"
rtt = { max = "100ms", count = 3 }
"""


def same(record: Any, model: Any, where: str = "plan") -> None:
    """`record` holds exactly what the pydantic `model` holds, recursively."""
    fields = getattr(type(model), "model_fields", None)
    if fields is None:
        if isinstance(model, list):
            assert isinstance(record, list) and len(record) == len(model), where
            for i, (r, m) in enumerate(zip(record, model, strict=True)):
                same(r, m, f"{where}[{i}]")
        else:
            assert record == model and type(record) is type(model), where
        return
    assert isinstance(record, saved.Record) and record.model == type(model).__name__, where
    assert set(vars(record)) == set(fields), where
    for name in fields:
        same(getattr(record, name), getattr(model, name), f"{where}.{name}")


@pytest.fixture(scope="module")
def compiled() -> Plan:
    return plan(TOPOLOGY)


def test_a_cached_plan_reads_back_as_the_model_made_it(compiled: Plan) -> None:
    text = compiled.to_json()
    record = saved.loads(saved.dumps(compiled, text), text)
    assert isinstance(record, saved.PlanRecord)
    same(record, compiled)
    # Plan's own lookups, and what check does with an expectation (model_copy).
    assert record.namespaces == compiled.namespaces
    assert record.node("gw").interfaces[1].peer.node == "web"
    with pytest.raises(KeyError):
        record.node("nobody")
    e = record.expect[0]
    copy = e.model_copy(update={"within": 9.0})
    assert (copy.within, e.within, copy.port, type(copy)) == (9.0, 2.0, 80, type(e))
    assert e == compiled.expect[0] and record.expect[1] != compiled.expect[0]
    with pytest.raises(AttributeError):
        e.within = 1.0  # type: ignore[misc]


def test_the_cache_stands_only_for_its_text_and_model(compiled: Plan,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    text = compiled.to_json()
    cache = saved.dumps(compiled, text)
    assert saved.loads(cache, text.replace("tfastplan", "tfastplen")) is None  # edited
    assert saved.loads(cache[:100], text) is None  # damaged
    assert saved.loads("", text) is None
    # Another netlab (another model.py): another key.
    other = tmp_path / "model.py"
    other.write_text(Path(saved.__file__).with_name("model.py").read_text() + "\n# v2\n")
    monkeypatch.setattr(saved, "__file__", str(tmp_path / "saved.py"))
    assert saved.loads(cache, text) is None


def test_values_the_cache_cannot_hold_are_refused() -> None:
    with pytest.raises(saved.Uncacheable):
        saved.encode({"": "x"})  # the tag's key in a plain dict
    with pytest.raises(saved.Uncacheable):
        saved.encode({1, 2})


def test_read_plan_uses_the_cache_only_when_asked_and_current(
        compiled: Plan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETLAB_RUN_DIR", str(tmp_path))
    tmp_path.chmod(0o700)
    directory = plans.write_plan("tfastplan", compiled)
    assert (directory / plans.CACHE_FILE).is_file()
    assert isinstance(plans.read_plan("tfastplan"), Plan)  # not asked: pydantic's
    with plans.read_only():
        assert isinstance(plans.read_plan("tfastplan"), saved.PlanRecord)
    # plan.json edited (another description): the stale cache is not used, and renewed.
    edited = compiled.model_copy(update={"description": "edited"})
    (directory / "plan.json").write_text(edited.to_json())
    with plans.read_only():
        first = plans.read_plan("tfastplan")
        second = plans.read_plan("tfastplan")
    assert isinstance(first, Plan) and first.description == "edited"
    assert isinstance(second, saved.PlanRecord) and second.description == "edited"
    # A cache naming another lab is refused like such a plan.json.
    (directory / "plan.json").write_text(compiled.model_copy(update={"lab": "tother"}).to_json())
    with plans.read_only(), pytest.raises(plans.StateError, match="names lab 'tother'"):
        plans.read_plan("tfastplan")


@pytest.mark.parametrize("argv", [
    [], ["plan", "x"], ["check", "-h"], ["check", "--help"], ["check", "x", "--help"],
    ["check", "--bogus"], ["check", "--lab"], ["check", "--lab", "--json"],
    ["check", "--lab=x"], ["check", "-lx"], ["check", "--json", "--json"],
    ["check", "a", "b"], ["check", "--", "a"], ["check", "--junit", ""],
    ["check", "--no-json"], ["check", "--junit", "-"],
])
def test_what_the_fast_path_leaves_to_typer(argv: list[str]) -> None:
    assert fast.run(argv) is None


def test_what_the_fast_path_reads() -> None:
    assert fast._parse(["x", "--lab", "y", "--json", "--junit", "j.xml", "-l", "z"],
                       fast._CHECK) is None  # --lab twice
    assert fast._parse(["--lab", "y", "x", "--json", "--csv", "c", "--gradescope", "g"],
                       fast._CHECK) == (["x"], {"lab": "y", "as_json": True, "csv": "c",
                                                "gradescope": "g"})


def test_no_fast_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(fast.NO_FAST_ENV, "1")
    assert fast.run(["check", "x"]) is None
