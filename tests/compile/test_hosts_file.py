"""/etc/hosts can be turned off for the lab or a node (issue 14 item 12)."""

from __future__ import annotations

import pytest

from netlab.topology.schema import json_schema
from tests.support.compile import plan, problems

LAB = """
[lab]
name = "t9hosts"
{lab}
[nodes.a]
{a}
[nodes.b]
[[links]]
endpoints = ["a", "b"]
"""


def _flags(lab: str = "", a: str = "") -> dict[str, bool]:
    p = plan(LAB.format(lab=lab, a=a))
    return {n.name: n.hosts_file for n in p.nodes} | {"text": bool(p.hosts)}


def test_on_by_default() -> None:
    assert _flags() == {"a": True, "b": True, "text": True}


def test_off_for_the_lab() -> None:
    assert _flags(lab="hosts_file = false") == {"a": False, "b": False, "text": False}


def test_off_for_one_node() -> None:
    p = plan(LAB.format(lab="", a="hosts_file = false"))
    assert (p.node("a").hosts_file, p.node("b").hosts_file) == (False, True)
    assert "\ta " in p.hosts or "\ta-eth0" in p.hosts  # a still has its name for b


def test_a_node_may_turn_it_back_on() -> None:
    assert _flags(lab="hosts_file = false", a="hosts_file = true") == {
        "a": True, "b": False, "text": True}


@pytest.mark.parametrize("where", ["lab", "a"])
def test_the_value_is_a_boolean(where: str) -> None:
    text = LAB.format(lab='hosts_file = "no"' if where == "lab" else "",
                      a='hosts_file = "no"' if where == "a" else "")
    (p,) = problems(text)
    assert p.path == ("lab.hosts_file" if where == "lab" else "nodes.a.hosts_file")
    assert p.message == 'expected true or false, got "no"'


def test_the_schema_has_both_keys() -> None:
    defs = json_schema()["$defs"]
    assert defs["LabSection"]["properties"]["hosts_file"]["type"] == "boolean"
    assert defs["Node"]["properties"]["hosts_file"]["type"] == "boolean"
