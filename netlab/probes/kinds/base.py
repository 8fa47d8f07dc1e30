"""What an expectation kind is: the answers `check` asks of the kind of an [[expect]].

`check` knows no kind by name: it asks the registry (kinds/__init__.py) which kinds apply
to an expectation, runs each one's probe, and words the result with the kind's label. A
new kind is one module defining `KIND = ExpectKind(...)` and one registration line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netlab.plan.model import ExpectPlan, Plan
    from netlab.probes.packets import Packet


@dataclass(frozen=True)
class Attempt:
    """One expectation being checked, as a kind's probe receives it."""

    plan: Plan
    expect: ExpectPlan
    # Distinct among the probes of one check run (they run concurrently): the source port
    # or echo identifier that tells this probe's packets and answers from the others'.
    key: int


@dataclass(frozen=True)
class Outcome:
    """What a kind's probe saw."""

    reached: bool  # it got through, as the kind means it (an answer, an open port, a name)
    seen: str  # in words, for the check table: "SYN-ACK from web (10.0.0.10)"
    state: str | None = None  # a finer verdict where the kind has one: open/closed/filtered


@dataclass(frozen=True)
class ExpectKind:
    """One kind of expectation (`proto = "..."` of an [[expect]], or `dns = {...}`)."""

    name: str
    description: str
    # True: the expectation must give a port (tcp, udp); False: it must not (icmp).
    port: bool
    # Sends a probe to the expectation's `to` address: `via` and `source_nat` can watch
    # it. False for kinds that name something else (dns asks for a name).
    target: bool
    # Sends the probe and waits for its answer (at most the expectation's timeout).
    run: Callable[[Attempt], Outcome]
    # Whether a packet seen elsewhere (a netlab.probes.packets.Packet, from a sniffer in
    # another node) is this kind's probe with that key (and destination port): how `via`
    # and `source_nat` follow it. None: the kind's probe cannot be followed.
    matches: Callable[[Packet, int, int | None], bool] | None = None
    # Which expectations this kind checks; None: a target kind checks those whose `proto`
    # is its name and that have a target address.
    selects: Callable[[ExpectPlan], bool] | None = None
    # How the expectation reads in titles ("tcp/80", "dns web=10.0.0.1"); None: the name,
    # with "/port" when the expectation has a port.
    names: Callable[[ExpectPlan], str] | None = None
    # The outcome states an expectation of this kind may require (`state = "closed"`),
    # each with the probe states (Outcome.state) that satisfy it. Empty: no `state`.
    # The first one is the state that gets through (reach = true).
    states: dict[str, frozenset[str]] = field(default_factory=dict)
    # The states that need an answer from the target (open, closed): like reach = true,
    # they are retried for a few seconds by default while a lab settles after deploy.
    answered: frozenset[str] = frozenset()
    # How the title words the verdict: (must hold, must not hold).
    verdicts: tuple[str, str] = ("reach", "no reach")

    def applies(self, e: ExpectPlan) -> bool:
        if self.selects is not None:
            return self.selects(e)
        return self.target and e.proto == self.name and e.target_address is not None

    def passes(self, e: ExpectPlan, outcome: Outcome) -> bool:
        """Whether `outcome` meets `e`: its required state, else its reach."""
        if e.state is not None:
            return outcome.state in self.states.get(e.state, frozenset())
        return outcome.reached == e.reach

    def label(self, e: ExpectPlan) -> str:
        if self.names is not None:
            return self.names(e)
        return f"{self.name}/{e.port}" if e.port is not None else self.name
