"""Bad input, pure half: random and mutated topology files either load or raise
TopologyError (never another exception); through the CLI they exit 0 or 2, never with a
traceback; every plan that loads names only things that are safe to create."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from netlab.cli import app
from netlab.compile.compiler import compile_topology
from netlab.errors import TopologyError
from netlab.names import ifname_problem, lab_name_problem
from netlab.plan.model import Plan
from netlab.plan.render import plan_text
from netlab.topology.loader import parse
from tests.support.names import run_prefix
from tests.support.topogen import (
    HOST_LIKE_NAMES,
    MALFORMED_NAMES,
    bundled_docs,
    mutated_docs,
    plausible_docs,
    toml_dumps,
    topology_docs,
)

pytestmark = pytest.mark.slow  # tests/support/plugin.py: handed out early

P = run_prefix("t5")  # this run's lab names: two runs at once never share one

# NETLAB_FUZZ_EXAMPLES=5000 for a deeper run than the suite's default.
FUZZ = settings(max_examples=int(os.environ.get("NETLAB_FUZZ_EXAMPLES", "200")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _id(name: str) -> str:
    return ascii(name)[:24]


SEEDS = bundled_docs()  # read once: a strategy must not change between examples
_NETNS = re.compile(r"^[a-z][a-z0-9-]*$")


def check_pure(text: str) -> Plan | None:
    """Load `text`; return the plan, or None when it is rejected with TopologyError.
    Any other exception propagates and fails the test."""
    try:
        plan = compile_topology(parse(text, "fuzz.toml"), "fuzz.toml").plan
    except TopologyError as e:
        assert e.problems, "a TopologyError must list at least one problem"
        assert "nothing was built" in e.render()
        return None
    assert_safe(plan)
    assert Plan.from_json(plan.to_json()) == plan
    plan_text(plan)
    return plan


def assert_safe(plan: Plan) -> None:
    """Every name the backend would give to the kernel or the file system is tame."""
    assert lab_name_problem(plan.lab) is None, plan.lab
    namespaces = plan.namespaces
    assert len(set(namespaces)) == len(namespaces), f"duplicate namespaces {namespaces}"
    for ns in namespaces:
        assert _NETNS.match(ns) and len(ns) < 256, ns
    for n in plan.nodes:
        assert n.netns.endswith(n.name)
        for i in n.interfaces:
            assert ifname_problem(i.name) is None, i.name
    for s in plan.switches:
        for port in s.ports:
            assert ifname_problem(port.ifname) is None, port.ifname
    for v in plan.veths:
        for end in (v.a, v.b):
            assert ifname_problem(end.ifname) is None, end.ifname
            assert end.netns in namespaces
    if plan.uplink is not None:
        assert ifname_problem(plan.uplink.host_ifname) is None
        assert ifname_problem(plan.uplink.ifname) is None
        assert plan.uplink.netns in namespaces


# Inputs the compiler once accepted although the kernel must refuse them (found by
# test_rel_deploy_input.py's fuzzer); each must now be rejected with TopologyError.
MUST_REJECT = {
    # a router naming itself as gateway: a default route via its own address
    "gateway-self": f'lab.name = "{P}r"\ndefaults.ipv6 = true\n'
                    'nodes.a = {kind = "router", gateway = "a"}\n'
                    'switches.b = {subnet = "10.0.0.0/24"}\n'
                    'links = [{endpoints = ["a", "b"], addresses = ["10.0.0.5/24"]}]\n',
}


@FUZZ
@given(st.text(max_size=400))
@example("")
@example("[lab]\nname = 1\n")
@example("lab = 3\n")
@example("[[lab]]\nname = 'x'\n")
def test_fuzz_random_text_loads_or_topology_error(text: str) -> None:
    check_pure(text)


@FUZZ
@given(st.binary(max_size=200))
def test_fuzz_random_bytes_file_loads_or_topology_error(tmp_path_factory: pytest.TempPathFactory,
                                                       data: bytes) -> None:
    from netlab.api import load

    path = tmp_path_factory.mktemp("bytes") / "t.toml"
    path.write_bytes(data)
    try:
        plan = load(path).plan
    except TopologyError as e:  # each problem said, naming the file (not only "no crash")
        assert e.problems and all(p.message for p in e.problems)
        assert "t.toml" in e.render(), e.render()
        return
    assert_safe(plan)


@FUZZ
@given(topology_docs())
def test_fuzz_structured_topologies_load_or_topology_error(doc: dict) -> None:  # type: ignore[type-arg]
    check_pure(toml_dumps(doc))


@FUZZ
@given(plausible_docs())
def test_fuzz_plausible_topologies_load_or_topology_error(doc: dict) -> None:  # type: ignore[type-arg]
    check_pure(toml_dumps(doc))


@FUZZ
@given(st.data())
def test_fuzz_mutated_bundled_topologies_load_or_topology_error(data: st.DataObject) -> None:
    assert SEEDS, "no bundled topologies found"
    check_pure(toml_dumps(data.draw(mutated_docs(SEEDS))))


@pytest.mark.parametrize("case", sorted(MUST_REJECT))
def test_fuzz_found_inputs_are_rejected(case: str) -> None:
    assert check_pure(MUST_REJECT[case]) is None


# ---------------------------------------------------------------- hostile names (pure)

_SLOTS = {
    "lab name": lambda n: {"lab": {"name": n}, "nodes": {"pc1": {}}},
    "prefix": lambda n: {"lab": {"name": f"{P}h", "prefix": n}, "nodes": {"pc1": {}}},
    "node": lambda n: {"lab": {"name": f"{P}h"}, "nodes": {n: {}}},
    "switch": lambda n: {"lab": {"name": f"{P}h"}, "nodes": {"pc1": {}}, "switches": {n: {}},
                         "links": [{"endpoints": ["pc1", n]}]},
    "ifname": lambda n: {"lab": {"name": f"{P}h"}, "nodes": {"pc1": {}, "pc2": {}},
                         "links": [{"endpoints": [f"pc1:{n}", "pc2"]}]},
    "uplink ifname": lambda n: {"lab": {"name": f"{P}h"}, "nodes": {"gw": {}},
                                "uplink": {"node": "gw", "ifname": n}},
    "sysctl": lambda n: {"lab": {"name": f"{P}h"}, "nodes": {"pc1": {"sysctl": {n: "1"}}}},
    "search": lambda n: {"lab": {"name": f"{P}h"}, "defaults": {"search": [n]},
                         "nodes": {"pc1": {}}},
}


@pytest.mark.parametrize("slot", sorted(_SLOTS))
@pytest.mark.parametrize("name", MALFORMED_NAMES, ids=_id)
def test_hostile_names_rejected_by_compiler(slot: str, name: str) -> None:
    """Path-like, shell-like, overlong and look-alike names never reach a plan."""
    if slot == "prefix" and name == "":
        pytest.skip('prefix = "" is documented: bare node names')
    assert check_pure(toml_dumps(_SLOTS[slot](name))) is None, f"{slot} {name!r} was accepted"


@pytest.mark.parametrize("slot", sorted(_SLOTS))
@pytest.mark.parametrize("name", HOST_LIKE_NAMES, ids=_id)
def test_host_like_names_load_safely_or_are_rejected(slot: str, name: str) -> None:
    """Well-formed names that match host objects may load, but only into a safe plan
    (deploy refuses real clashes: see test_rel_deploy_input.py)."""
    check_pure(toml_dumps(_SLOTS[slot](name)))


# ---------------------------------------------------------------- through the CLI


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(topology_docs().map(toml_dumps), st.text(max_size=200)),
       st.sampled_from([["validate"], ["plan"], ["plan", "--json"]]))
def test_fuzz_cli_exits_0_or_2_without_traceback(tmp_path_factory: pytest.TempPathFactory,
                                                 text: str, verb: list[str]) -> None:
    path = tmp_path_factory.mktemp("cli") / "t.toml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, [verb[0], str(path), *verb[1:]])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{type(result.exception).__name__}: {result.exception}")
    assert result.exit_code in (0, 2), result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("name", ["../../etc/x", "a;rm -rf /", "x" * 300, "n\u0430tgw"], ids=_id)
def test_cli_hostile_lab_name_exits_2_with_message(tmp_path: Path, name: str) -> None:
    """The real `netlab` process, not an in-process runner: exit 2, a message, no traceback."""
    path = tmp_path / "t.toml"
    path.write_text(toml_dumps({"lab": {"name": name}, "nodes": {"pc1": {}}}))
    for verb in (["validate"], ["plan", "--json"]):
        r = subprocess.run([sys.executable, "-m", "netlab", verb[0], str(path), *verb[1:]],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2, r.stderr
        assert "lab.name" in r.stderr
        assert "Traceback" not in r.stderr + r.stdout
