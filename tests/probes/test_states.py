"""TCP/UDP outcome states (`state = "open" | "closed" | "filtered"`, UDP `"reply" |
"closed" | "no-answer"`): compiled, checked against a real lab, pass and fail, with what
was seen in the failure. Before states, an expectation could only say reach or not, and
a RST (the port closed, the path open) passed as "no reach"."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from netlab.plan.model import ExpectPlan, Plan
from netlab.probes import check
from tests.support.compile import plan as compile_plan
from tests.support.compile import problems as compile_problems
from tests.support.traffic import Listeners

ADDR = {"web": "203.0.113.2", "pc2": "10.0.0.3", "far": "198.51.100.2"}
DROP = """table inet h10drop {
    chain input { type filter hook input priority filter; tcp dport 23 drop; udp dport 23 drop; }
}
"""


def expect(index: int, to: str, proto: str, port: int, state: str) -> ExpectPlan:
    kind = {"open": True, "reply": True}
    return ExpectPlan(index=index, from_node="pc1", to=to, target_address=ADDR[to],
                      proto=proto, port=port, reach=kind.get(state, False), via=None,
                      source_nat=None, dns_name=None, dns_answer=None, timeout=0.5,
                      state=state)


@pytest.mark.root
def test_states_pass_and_fail_with_what_was_seen(
        t4a: Plan, listeners: Listeners, nft_rules: Callable[[str, str], None]) -> None:
    listeners.tcp(t4a.node("web").netns, 8080)
    listeners.udp_echo(t4a.node("web").netns, 7007)
    nft_rules(t4a.node("pc2").netns, DROP)
    cases = [  # (to, proto, port, state that holds, a state that does not)
        ("web", "tcp", 8080, "open", "closed"),
        ("pc2", "tcp", 22, "closed", "filtered"),  # RST: the path is open
        ("pc2", "tcp", 23, "filtered", "closed"),  # dropped: silence
        ("far", "tcp", 80, "filtered", "open"),  # gw rejects with ICMP: filtered, as nmap
        ("web", "udp", 7007, "reply", "no-answer"),
        ("pc2", "udp", 9, "closed", "reply"),  # ICMP port unreachable from pc2 itself
        ("pc2", "udp", 23, "no-answer", "closed"),
    ]
    items = []
    for k, (to, proto, port, good, bad) in enumerate(cases):
        items += [expect(2 * k, to, proto, port, good), expect(2 * k + 1, to, proto, port, bad)]
    report = check(t4a, items)
    verdicts = [(r.title, r.passed) for r in report]
    assert [p for _, p in verdicts] == [True, False] * len(cases), verdicts
    seen = {r.index: r.seen for r in report}
    assert seen[1] == "SYN-ACK from web (203.0.113.2)"  # open, not closed
    assert seen[3] == "RST from pc2 (10.0.0.3)"  # closed, not filtered
    assert seen[5].startswith("timeout")  # filtered, not closed
    assert "unreachable" in seen[7] and "gw" in seen[7]  # an ICMP error from gw
    assert seen[9].startswith("UDP reply (13 bytes) from web (203.0.113.2)")
    assert "port unreachable from pc2 (10.0.0.3)" in seen[11], seen[11]
    assert seen[13].startswith("timeout")
    assert report[2].title == "[2] pc1 -> pc2 (10.0.0.3) tcp/22: closed"


TOPO = """[lab]
name = "st"
[nodes.a]
[nodes.b]
[[links]]
endpoints = ["a", "b"]
[[expect]]
from = "a"
to = "b"
"""


def problems(extra: str) -> list[str]:
    return [f"{p.path}: {p.message} / {p.fix}" for p in compile_problems(TOPO + extra)]


def test_state_is_validated_per_proto() -> None:
    assert problems('state = "open"\n') == [
        'expect[0].state: icmp expectations have no state / remove state, or set proto = '
        '"tcp" (open, closed, filtered) or "udp" (reply, closed, no-answer)']
    assert problems('proto = "udp"\nport = 9\nstate = "open"\n') == [
        "expect[0].state: udp has no state 'open' / use one of: reply, closed, no-answer"]
    assert problems('proto = "tcp"\nport = 9\nstate = "open"\nreach = false\n') == [
        "expect[0].reach: reach = false contradicts state = 'open' / remove reach: the "
        "state says whether it gets through"]


def test_state_sets_reach_and_what_settles_after_deploy() -> None:
    from netlab.probes.kinds import answered

    def plan(extra: str) -> ExpectPlan:
        return compile_plan(TOPO + extra).expect[0]

    closed = plan('proto = "tcp"\nport = 22\nstate = "closed"\nreach = false\n')
    assert (closed.state, closed.reach) == ("closed", False)
    assert answered("tcp", "closed", False)  # the target's RST: settles after deploy
    filtered = plan('proto = "tcp"\nport = 22\nstate = "filtered"\n')
    assert filtered.reach is False
    assert not answered("tcp", "filtered", False)  # silence: final at once
    assert plan('proto = "udp"\nport = 7\nstate = "reply"\n').reach is True
