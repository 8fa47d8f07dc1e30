"""RIP version 2 (FRR's ripd): every interface with an IPv4 address and the loopbacks are
in RIP; interfaces with no other RIP router on their segment are passive; lab timers."""

from __future__ import annotations

from netlab.compile.frr.base import Lab, Protocol, Router


def check(lab: Lab) -> None:
    s = lab.b.tf.rip
    if s.timeout <= s.update:
        lab.b.problems.error(
            "rip.timeout", f"timeout ({s.timeout} s) must be longer than update"
            f" ({s.update} s): routes would expire between two updates",
            f"set rip.timeout = {s.update * 3}")


def config(lab: Lab, r: Router) -> list[str]:
    s = lab.b.tf.rip
    out: list[str] = []
    for port in r.ports:
        out += [f"interface {port.ifname}", f" description {port.label}", "exit", "!"]
    out += ["router rip", " version 2", f" timers basic {s.update} {s.timeout} {s.garbage}"]
    out += [f" network {port.ifname}" for port in r.ports]
    # lo is never a RIP interface (nothing to send on): its addresses go in as networks.
    out += [f" network {x.network}" for x in r.loopback4]
    if s.passive:
        out += [f" passive-interface {port.ifname}" for port in r.ports if not port.neighbours]
    if r.default_route:
        out.append(" default-information originate")
    out += ["exit", "!"]
    return out


PROTOCOL = Protocol(
    name="rip",
    daemon="ripd",
    description="RIP version 2 (IPv4), lab timers",
    check=check,
    config=config,
)
