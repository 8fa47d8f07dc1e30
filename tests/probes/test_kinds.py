"""The expectation kind registry (issue 11 item 2): check dispatches through it, a kind
registered by a test is run without editing check.py, and probes reach namespaces only
through the backend seam. No root needed."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from netlab.api import load
from netlab.plan.model import ExpectPlan, Plan
from netlab.probes import check, kinds
from netlab.probes.check import title
from netlab.probes.kinds import Attempt, ExpectKind, Outcome
from netlab.probes.sniff import Mark, _match

TOPO = Path(__file__).parent / "topologies" / "t4a.toml"
PROBES = Path(__file__).resolve().parents[2] / "netlab" / "probes"


@pytest.fixture(scope="module")
def plan() -> Plan:
    return load(TOPO).plan


def _as_kind(e: ExpectPlan, proto: str, **update: object) -> ExpectPlan:
    # The topology model knows the registered kinds; a test's kind is registered after
    # the file was read, so the expectation is changed afterwards (no validation).
    # within 0: a failure is final at once (no retries for the lab to settle).
    return e.model_copy(update={"proto": proto, "within": 0.0, **update})


def test_registry_has_one_kind_per_module() -> None:
    assert list(kinds.KINDS) == ["icmp", "tcp", "udp", "http", "dns", "route", "address",
                                 "neighbor", "path", "command", "size", "rtt", "loss", "rate",
                                 "ospf", "bgp"]
    assert kinds.protos() == ["icmp", "tcp", "udp", "http"]
    for name, kind in kinds.KINDS.items():
        assert (PROBES / "kinds" / f"{name}.py").is_file()
        assert kind.name == name and kind.description


def test_each_kind_says_what_it_needs_and_how_it_reads(plan: Plan) -> None:
    icmp, tcp_, nat, dns = plan.expect
    assert [k.name for k in kinds.applying(icmp)] == ["icmp"]
    assert [k.name for k in kinds.applying(tcp_)] == ["tcp"]
    assert [k.name for k in kinds.applying(dns)] == ["dns"]
    assert kinds.get("tcp").label(tcp_) == "tcp/8080"
    assert kinds.get("dns").label(dns) == "dns web=203.0.113.2"
    assert kinds.port_problem("tcp", None) == ("a tcp expectation needs a port",
                                               "add port = 80")
    assert kinds.port_problem("icmp", 7) == ("icmp has no ports",
                                             'remove port, or set proto = "tcp"')
    assert kinds.port_problem("udp", 53) is None and kinds.port_problem("icmp", None) is None
    # Titles are made of the kinds' labels (same text as before the registry).
    assert title(icmp) == "[0] pc1 -> web (203.0.113.2) icmp: reach"
    assert title(nat) == "[2] pc1 -> pc2 (10.0.0.3) tcp/22: no reach"


def test_a_registered_kind_is_run_by_check(plan: Plan,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A throwaway kind: one registration, and check runs it (check.py untouched)."""
    calls: list[tuple[str, str | None, int]] = []

    def run(a: Attempt) -> Outcome:
        calls.append((a.expect.from_node, a.expect.target_address, a.key))
        return Outcome(a.expect.port == 7, f"echo service on port {a.expect.port}")

    kind = ExpectKind(name="echo7", description="a test's kind", port=True, target=True,
                      run=run)
    monkeypatch.setitem(kinds.KINDS, kind.name, kind)
    base = plan.expect[0]
    good = _as_kind(base, "echo7", port=7)
    bad = _as_kind(base, "echo7", port=8, index=5)
    report = check(plan, [good, bad])
    assert [r.passed for r in report] == [True, False]
    assert report[0].title == "[0] pc1 -> web (203.0.113.2) echo7/7: reach"
    assert report[0].seen == "echo service on port 7"
    assert report[1].seen == "echo service on port 8"
    assert sorted(c[:2] for c in calls) == [("pc1", "203.0.113.2")] * 2
    assert calls[0][2] != calls[1][2]  # each probe its own key
    assert kinds.port_problem("echo7", None) == ("a echo7 expectation needs a port",
                                                 "add port = 80")


def test_reach_false_and_a_kind_that_cannot_be_followed(plan: Plan,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    kind = ExpectKind(name="opaque", description="a test's kind", port=False, target=True,
                      run=lambda a: Outcome(True, "answered"))
    monkeypatch.setitem(kinds.KINDS, kind.name, kind)
    e = _as_kind(plan.expect[0], "opaque", reach=False)
    r = check(plan, [e])[0]
    assert not r.passed and r.seen == "reached: answered"
    # via/source_nat follow a probe with the kind's packet matcher; without one, say so
    # (and fail) rather than pass unobserved.
    watched = _as_kind(plan.expect[0], "opaque", via="gw")
    r = check(plan, [watched])[0]
    assert not r.passed and "cannot be followed" in r.seen


def test_an_unregistered_kind_fails_its_expectation_only(plan: Plan) -> None:
    report = check(plan, [_as_kind(plan.expect[0], "nosuch")])
    assert not report.ok
    assert "no expectation kind checks this (proto 'nosuch'" in report[0].seen


def test_sniffer_matches_through_the_kind(plan: Plan, monkeypatch: pytest.MonkeyPatch) -> None:
    from scapy.layers.inet import IP, UDP

    wire = bytes(IP(src="10.0.0.2", dst="10.0.0.3") / UDP(sport=40000, dport=7))
    assert _match(wire, 0x0800, Mark("udp", 40000, 7)) == ("10.0.0.2", "10.0.0.3")
    seen: list[int] = []

    def matches(pkt: object, key: int, port: int | None) -> bool:
        seen.append(key)
        return True

    kind = ExpectKind(name="anyip", description="a test's kind", port=False, target=True,
                      run=lambda a: Outcome(True, ""), matches=matches)
    monkeypatch.setitem(kinds.KINDS, kind.name, kind)
    assert _match(wire, 0x0800, Mark("anyip", 99)) == ("10.0.0.2", "10.0.0.3")
    assert seen == [99]


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def test_probes_reach_namespaces_only_through_the_backend() -> None:
    """No probe module steps into a namespace itself or names the kernel backend: a
    second backend (rootless, remote) would otherwise have nowhere to go."""
    offenders = {}
    for path in sorted(PROBES.rglob("*.py")):
        bad = sorted(m for m in _imports(path)
                     if m.startswith(("netlab.linux", "netlab.backends.kernel")))
        if bad:
            offenders[str(path.relative_to(PROBES))] = bad
    assert offenders == {}


def test_check_names_no_kind() -> None:
    """check.py dispatches through the registry: no `proto == "..."` branch left."""
    text = (PROBES / "check.py").read_text()
    for name in kinds.KINDS:
        assert f'== "{name}"' not in text and f"'{name}'" not in text
