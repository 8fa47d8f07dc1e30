"""proto = "icmp": one echo request to the target; reached when an echo reply comes back."""

from __future__ import annotations

from typing import TYPE_CHECKING

from netlab.probes.kinds.base import Attempt, ExpectKind, Outcome

if TYPE_CHECKING:
    from netlab.probes.packets import Packet


def run(a: Attempt) -> Outcome:
    from netlab.probes.icmp import ping

    e = a.expect
    assert e.target_address is not None
    result = ping(a.plan, e.from_node, e.target_address, count=1, timeout=e.timeout,
                  ident=a.key)
    return Outcome(result.ok, result.seen())


def matches(pkt: Packet, key: int, port: int | None) -> bool:
    """Our echo request (not its reply): type 8 / 128 with our identifier."""
    from netlab.probes import packets

    kind, ids = pkt.icmp(), pkt.echo_id_seq()
    return (kind is not None and kind[0] == packets.ECHO_REQUEST[pkt.v6]
            and ids is not None and ids[0] == key)


KIND = ExpectKind(
    name="icmp",
    description="ICMP echo: the target answers a ping",
    port=False,
    target=True,
    run=run,
    matches=matches,
    # size, rtt, loss and rate are kinds of their own (kinds.VARIANTS).
    selects=lambda e: e.proto == "icmp" and e.target_address is not None
    and e.size is None and e.rtt is None and e.loss is None and e.rate is None,
)
