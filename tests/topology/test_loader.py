"""The loader's messages: plain words, key paths, every problem, no pydantic jargon."""

from __future__ import annotations

import pytest

from netlab.errors import Problem, TopologyError, key_path, plural, toml_key
from netlab.topology.loader import merge, parse, parse_lenient
from tests.support.golden import GOLDEN

JARGON = ("after validation", "Input should", "input should", "valid dictionary",
          "instance of", "Field required", "model_type", "Value error")


def messages(text: str) -> list[tuple[str, str]]:
    with pytest.raises(TopologyError) as info:
        parse(text, "t.toml")
    return [(p.path, p.message) for p in info.value.problems]


def test_no_pydantic_jargon_in_any_golden() -> None:
    for path in (GOLDEN / "invalid").glob("*.txt"):
        text = path.read_text()
        for word in JARGON:
            assert word not in text, f"{path.name}: {word!r}"


def test_endpoint_count_reads_well() -> None:
    assert messages('[lab]\nname = "t2"\n[[links]]\nendpoints = ["a"]\n') == [
        ("links[0].endpoints", "a link has exactly two endpoints; this one has 1")]


def test_toml_syntax_error_names_the_line() -> None:
    ((path, message),) = messages('[lab]\nname = "t2"\n\nname = "again"\n')
    assert path == ""
    assert message.startswith("TOML syntax error at line 4, column")


def test_types_are_strict() -> None:
    got = dict(messages('[lab]\nname = "t2"\n[defaults]\nipv6 = "yes"\nmtu = "1500"\n'))
    assert got == {"defaults.ipv6": 'expected true or false, got "yes"',
                   "defaults.mtu": 'expected a whole number, got "1500"'}


def test_union_of_plain_types_gives_one_message() -> None:
    got = messages('[lab]\nname = "t2"\n[nodes.a]\nsysctl = { "net.x" = [1] }\n')
    assert got == [('nodes.a.sysctl."net.x"',
                    'expected a string in quotes such as "eth0" or a whole number, '
                    'got a list of 1')]


def test_unknown_key_suggests_and_lists() -> None:
    with pytest.raises(TopologyError) as info:
        parse('[lab]\nname = "t2"\n[nodes.a]\nknid = "router"\n', "t.toml")
    (p,) = info.value.problems
    assert (p.path, p.message) == ("nodes.a.knid", "unknown key 'knid' (did you mean \"kind\"?)")
    assert p.fix.startswith("valid keys here: kind, gateway,")


def test_nested_unknown_keys_leave_a_usable_model() -> None:
    model, problems = parse_lenient('[lab]\nname = "t2"\ncolour = 1\n[nodes.a]\nx = 2\n', "t")
    assert model is not None and "a" in model.nodes
    assert [p.path for p in problems] == ["lab.colour", "nodes.a.x"]


def test_top_level_unknown_key_leaves_no_model() -> None:
    model, problems = parse_lenient('[lab]\nname = "t2"\n[node.a]\n', "t")
    assert model is None
    assert [p.message for p in problems] == ["unknown key 'node' (did you mean \"nodes\"?)"]


def test_merge_hides_problems_of_tables_with_unknown_keys() -> None:
    early = [Problem("expect[0].too", "unknown key 'too'")]
    later = [Problem("expect[0]", "an expectation needs a target"),
             Problem("expect[1].from", "no node named 'x'"),
             Problem("expect[10]", "other")]
    assert [p.path for p in merge(early, later)] == ["expect[0].too", "expect[1].from",
                                                     "expect[10]"]


def test_key_path_quotes_odd_keys() -> None:
    assert key_path(["nodes", "x y", "sysctl", "net.ipv4.ip_forward"]) == \
        'nodes."x y".sysctl."net.ipv4.ip_forward"'
    assert key_path(["links", 3, "endpoints", 1]) == "links[3].endpoints[1]"
    assert toml_key('a"b') == '"a\\"b"'


def test_problem_order_is_file_order_and_natural() -> None:
    paths = ["expect[0]", "links[10].x", "links[2].x", "nodes.b", "lab.name", "", "nodes.a",
             "uplink.node", "switches.s", "pools.lan", "defaults.mtu"]
    ordered = [p.path for p in sorted(Problem(x, "m") for x in paths)]
    assert ordered == ["", "lab.name", "defaults.mtu", "pools.lan", "nodes.a", "nodes.b",
                       "switches.s", "links[2].x", "links[10].x", "expect[0]", "uplink.node"]


def test_plural() -> None:
    assert [plural(1, "switch"), plural(2, "switch"), plural(0, "node")] == [
        "1 switch", "2 switches", "0 nodes"]


def test_error_summary_counts() -> None:
    e = TopologyError("f.toml", [Problem("a", "x"), Problem("b", "y", severity="warning")])
    assert e.render().splitlines()[-1] == "f.toml: 1 error, 1 warning; nothing was built"


def test_union_with_a_word_names_both_alternatives() -> None:
    got = messages('[lab]\nname = "t2"\n[nodes.a]\n'
                   'routes = [{ to = "defualt", via = "10.0.0.1" }]\n')
    assert got == [("nodes.a.routes[0].to",
                    "'defualt' is not a subnet in CIDR notation such as 10.0.0.0/24 or fd00::/64;"
                    ' or write "default" (did you mean "default"?)')]


def test_union_branch_that_got_further_wins() -> None:
    got = messages('[lab]\nname = "t2"\n[[links]]\nendpoints = ["a", "b"]\n'
                   'addresses = [["10.0.0.1/30", 7]]\n')
    assert got == [("links[0].addresses[0][1]",
                    'expected an address string such as "10.0.0.5/24", got 7')]
