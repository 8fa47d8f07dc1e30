"""`proto` values come from the expectation kind registry (netlab/probes/kinds), as node
kinds come from theirs: a kind registered in one line is accepted by the topology model,
`validate`, the plan and the JSON Schema, and refused again once unregistered (pure)."""

from __future__ import annotations

import json
import typing

import pytest

from netlab.compile.compiler import compile_topology
from netlab.errors import TopologyError
from netlab.probes import kinds
from netlab.probes.check import check
from netlab.probes.kinds import ExpectKind, Outcome
from netlab.topology.loader import parse
from netlab.topology.model import Expect, ProtoName, TopologyFile

SCTP = ExpectKind(name="sctp", description="SCTP INIT: the port answers INIT-ACK",
                  port=True, target=True, run=lambda a: Outcome(True, "INIT-ACK", "open"))

LAB = """
[lab]
name = "tproto"
[nodes.a]
[nodes.b]
[[links]]
endpoints = ["a", "b"]
[[expect]]
from = "a"
to = "b"
proto = "sctp"
port = 5000
"""


def _problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(TopologyError) as e:
        compile_topology(parse(text, "t.toml"), "t.toml")
    return [(p.path, p.message) for p in e.value.problems]


def test_builtin_protos_are_the_registry_s() -> None:
    assert kinds.protos() == ["icmp", "tcp", "udp", "http"]
    assert typing.get_args(ProtoName) == tuple(kinds.protos())  # the key reference's
    schema = TopologyFile.model_json_schema()
    assert schema["$defs"]["Expect"]["properties"]["proto"]["enum"] == kinds.protos()


def test_a_registered_kind_is_a_proto_value() -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(kinds.KINDS, SCTP.name, SCTP)  # the one registration line
        plan = compile_topology(parse(LAB, "t.toml"), "t.toml").plan
        schema = TopologyFile.model_json_schema()
        no_port = _problems(LAB.replace("port = 5000\n", ""))
        report = check(plan)  # check runs it (the stub sends nothing)
    e = plan.expect[0]
    assert (e.proto, e.port, e.target_address) == ("sctp", 5000, plan.node("b").primary["4"])
    assert schema["$defs"]["Expect"]["properties"]["proto"]["enum"] == [
        "icmp", "tcp", "udp", "http", "sctp"]
    assert ("expect[0].port", "a sctp expectation needs a port") in no_port
    assert report.ok and report[0].seen == "INIT-ACK"
    assert "sctp" in report[0].title
    # Unregistered again: refused, naming the values the registry has.
    assert "sctp" not in kinds.KINDS
    problems = _problems(LAB)
    assert [m for p, m in problems if p == "expect[0].proto"] == [
        '"sctp" is not one of: icmp, tcp, udp, http']
    assert json.dumps(TopologyFile.model_json_schema()).count('"sctp"') == 0


def test_variants_and_non_target_kinds_are_no_proto_values() -> None:
    # size, rtt, loss, rate ride on proto = "icmp"; dns, route... name no target.
    for name in ("size", "rtt", "loss", "rate", "dns", "route", "command"):
        with pytest.raises(ValueError, match="Input should be 'icmp' or 'tcp'"):
            Expect.model_validate({"from": "a", "to": "b", "proto": name})
