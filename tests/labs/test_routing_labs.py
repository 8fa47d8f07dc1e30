"""The bundled labs of dynamic routing and autoconfiguration (OSPF, OSPF areas, RIP, BGP,
failover, DHCP, SLAAC), each deployed once: `netlab check` right after deploy must pass
every expectation (their `within` covers the protocols' convergence), and the events the
lessons are about are timed: how long traffic stops when the failover lab's primary link
is cut (carrier lost) or silently drops everything, how long BGP takes to use the detour,
how fast RIP poisons a lost LAN and learns it back. The lessons' own commands are run by
tests/labs/test_lessons.py; the figures are in docs/labs/failover.md and the lessons."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from netlab.lab import Lab
from netlab.topology import library
from tests.labs.labtools import DYNAMIC_LABS
from tests.support.deploy import Labs
from tests.support.names import renamed_copy, unique_name

pytestmark = pytest.mark.slow  # tests/support/plugin.py: handed out early

ROUTING_LABS = DYNAMIC_LABS


def _deploy(labs: Labs, bundled: str) -> tuple[Lab, float]:
    """The bundled lab under a unique name; (lab, monotonic time deploy returned)."""
    path = renamed_copy(library.find(bundled).path, unique_name("t3"), labs.tmp)
    lab = labs.deploy(path)
    return lab, time.monotonic()


def _cli_check(lab: Lab) -> dict:  # type: ignore[type-arg]
    """`netlab check --lab NAME --json` as a student runs it, in a process of its own."""
    run = subprocess.run([sys.executable, "-m", "netlab", "check", "--lab", lab.name, "--json"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode in (0, 1), run.stdout + run.stderr
    report = json.loads(run.stdout)
    failed = [f"[{r['index']}] {r['title']}: {r['seen']}" for r in report["results"]
              if not r["passed"]]
    assert run.returncode == 0 and not failed, "\n".join(failed)
    return report  # type: ignore[no-any-return]


def _wait(what: str, cond: Callable[[], bool], limit: float) -> float:
    """Seconds until cond() holds (polled every 20 ms); fails after `limit`."""
    began = time.monotonic()
    while not cond():
        assert time.monotonic() - began < limit, f"{what}: not within {limit} s"
        time.sleep(0.02)
    return time.monotonic() - began


def _outage(lab: Lab, src: str, dst: str, cut: Callable[[], None], seconds: int) -> float:
    """Longest gap in the replies to the kernel's ping (every 10 ms, `seconds` long) from
    src to dst while `cut` runs 1 s after the first request: how long traffic stopped.
    (A count, not `-w`: with a deadline, ping ends at the first ICMP error, and r1 sends
    one "net unreachable" while it swaps routes.)"""
    netns = lab.node(src).netns
    ping = subprocess.Popen(["ip", "netns", "exec", netns, "ping", "-n", "-D", "-i", "0.01",
                             "-W", "1", "-c", str(seconds * 100), dst],
                            stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)
    cut()
    out, _ = ping.communicate(timeout=seconds + 10)
    stamps = [float(m.group(1)) for m in re.finditer(r"^\[(\d+\.\d+)\] \d+ bytes from", out,
                                                      re.M)]
    assert len(stamps) > 10, out[-2000:]
    assert stamps[-1] - stamps[0] > seconds - 1.5, f"replies stopped:\n{out[-2000:]}"
    return max(b - a for a, b in zip(stamps, stamps[1:], strict=False))


def _vtysh(lab: Lab, node: str, *commands: str) -> str:
    argv = ["vtysh"] + [x for c in commands for x in ("-c", c)]
    run = lab.exec(node, argv)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout  # type: ignore[no-any-return]


def _has_route(lab: Lab, node: str, prefix: str, via: str | None = None) -> bool:
    out = lab.exec(node, ["ip", "-4", "route", "show", prefix]).stdout
    return prefix in out and (via is None or f"via {via} " in out)


@pytest.mark.parametrize("bundled", ROUTING_LABS)
def test_lab_passes_its_check_after_deploy(labs: Labs, bundled: str) -> None:
    lab, deployed = _deploy(labs, bundled)
    report = _cli_check(lab)
    converged = time.monotonic() - deployed
    slowest = max((r.get("elapsed_s") or 0.0) for r in report["results"])
    print(f"{bundled}: every expectation passed {converged:.1f} s after deploy"
          f" (slowest {slowest:.1f} s of retries)")
    # What daemons configure as intended (routes of FRR, DHCP leases, router
    # advertisements where the plan takes them) is no drift.
    assert lab.status().drift == []
    if bundled == "failover":
        _failover(lab)
    elif bundled == "bgp":
        _bgp_detour(lab)
    elif bundled == "rip":
        _rip_poison(lab)


def _failover(lab: Lab) -> None:
    """Cut the primary: carrier loss moves traffic at once; a silent failure waits for
    OSPF's dead interval (3 s). Both times are in docs/labs/failover.md."""
    down = _outage(lab, "pc1", "10.2.0.2", lambda: lab.link_up("r1", "r2", False), 4)
    assert lab.trace("pc1", "pc2").nodes()[:3] == ["r1", "r3", "r2"]
    lab.link_up("r1", "r2")
    back = _wait("back on the primary", lambda: _has_route(lab, "r1", "10.2.0.0/24",
                                                           "10.255.12.2"), 15.0)
    silent = _outage(lab, "pc1", "10.2.0.2",
                     lambda: lab.link_set("r1", "r2", {"loss": "100%"}), 7)
    lab.link_set("r1", "r2", {}, clear=True)
    print(f"failover: link down -> traffic moved after {down * 1000:.0f} ms; silent loss "
          f"-> {silent:.2f} s; link up -> back on the primary after {back:.2f} s")
    # Orders, not timings: carrier loss is seen at once, a silent failure only after
    # OSPF's dead interval (3 s).
    assert down < silent, f"link down stopped traffic for {down:.2f} s, silence {silent:.2f} s"
    assert silent > 1.5, f"silent failure stopped traffic for only {silent:.2f} s"
    _wait("primary again", lambda: _has_route(lab, "r1", "10.2.0.0/24", "10.255.12.2"), 15.0)
    _cli_check(lab)


def _bgp_detour(lab: Lab) -> None:
    """Cut r1 - r3: r1 reaches AS 65003 through AS 65002 (AS path 65002 65003)."""
    lab.link_up("r1", "r3", False)
    detour = _wait("detour through AS 65002",
                   lambda: _has_route(lab, "r1", "10.3.0.0/24", "10.255.12.2"), 15.0)
    assert "65002 65003" in _vtysh(lab, "r1", "show ip bgp 10.3.0.0/24")
    assert lab.ping("pc1", "pc3").ok
    lab.link_up("r1", "r3")
    back = _wait("direct again", lambda: _has_route(lab, "r1", "10.3.0.0/24", "10.255.13.2"),
                 15.0)
    print(f"bgp: r1 - r3 down -> detour after {detour:.2f} s; up -> direct after {back:.2f} s")
    _cli_check(lab)


def _rip_poison(lab: Lab) -> None:
    """Cut lan2 from r3: the loss reaches r1 as metric 16 (a triggered update), the
    route is removed; reconnected, r1 learns it back within about one update period."""
    lab.link_up("r3", "lan2", False)
    gone = _wait("lan2 withdrawn at r1", lambda: not _has_route(lab, "r1", "10.2.0.0/24"),
                 10.0)
    assert re.search(r"10\.2\.0\.0/24 +10\.255\.12\.2 +16 ",
                     _vtysh(lab, "r1", "show ip rip")), "no metric 16 (poisoned) at r1"
    lab.link_up("r3", "lan2")
    back = _wait("lan2 learnt again", lambda: _has_route(lab, "r1", "10.2.0.0/24"), 20.0)
    print(f"rip: lan2 cut -> withdrawn at r1 after {gone:.2f} s; reconnected -> "
          f"relearnt after {back:.2f} s")
    _cli_check(lab)


def test_routing_labs_are_bundled_with_lessons() -> None:
    """Each lab is in the bundled list with its docs/labs lesson (no root needed)."""
    found = {lab.name: lab for lab in library.bundled()}
    for name in ROUTING_LABS:
        assert name in found, name
        assert found[name].lesson is not None, f"docs/labs/{name}.md is missing"
        assert Path(found[name].lesson).read_text().startswith(f"# {name}:")
