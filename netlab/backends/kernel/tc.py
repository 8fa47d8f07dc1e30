"""What the kernel is given to shape a link end: tc qdisc parameters (tbf for rate, netem
for delay, jitter and loss), and, where the kernel has no netem, the nftables ruleset that
drops a random share of packets at the receiving end. Pure: shaping.py hands these to the
kernel (qdiscs over netlink through pyroute2, rulesets through netlab.linux.nft), at deploy
and for `netlab link` alike; every value is unit-tested without root.

The values of a link end come from compile (netlab.compile.linkprops: parsing "10mbit",
"20ms", "1%" into the plan's ShapingPlan, and the limits and units shared with it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from netlab.compile.firewall import ifname_literal
from netlab.compile.linkprops import LOSS_STEPS, is_empty
from netlab.plan.model import ShapingPlan

TBF_LATENCY_S = 0.05  # how long a packet may wait in the rate limiter's queue
NETEM_LIMIT = 1000  # packets netem holds (its default)
ETH_HLEN = 14
LOSS_TABLE = "netlab_loss"

# -- qdiscs (tc) -------------------------------------------------------------------------

@dataclass(frozen=True)
class Qdisc:
    """One qdisc to add: pyroute2 `tc("add", kind, index, handle, parent=..., **options)`."""

    kind: str
    handle: int
    parent: int | None  # None: root
    options: dict[str, int | float]


ROOT_HANDLE = 0x10000  # 1:
CHILD_PARENT = 0x10001  # 1:1, the class a classful root hands packets to
CHILD_HANDLE = 0x100000  # 10:


def tbf_options(rate_bit: int, mtu: int) -> dict[str, int | float]:
    """Token bucket: burst holds 10 ms of traffic but at least two full frames."""
    rate_bytes = rate_bit // 8
    burst = max(rate_bytes // 100, 2 * (mtu + ETH_HLEN))
    limit = int(rate_bytes * TBF_LATENCY_S) + burst
    return {"rate": rate_bytes, "burst": burst, "limit": limit}


def netem_options(s: ShapingPlan) -> dict[str, int | float]:
    """netem options as pyroute2 takes them: delay and jitter in microseconds, loss in %."""
    opts: dict[str, int | float] = {"limit": NETEM_LIMIT}
    if s.delay_ms:
        opts["delay"] = round(s.delay_ms * 1000)
    if s.jitter_ms:
        opts["jitter"] = round(s.jitter_ms * 1000)
    if s.loss_pct:
        opts["loss"] = s.loss_pct
    return opts


def qdiscs(s: ShapingPlan | None, mtu: int, netem: bool) -> list[Qdisc]:
    """The egress qdiscs of an end, root first.

    With netem: netem at the root (delay, jitter, loss) and tbf as its child, the layout
    the netem documentation gives for "delay plus rate". Without netem only tbf is used;
    loss is then done by `loss_ruleset` on the peer, and delay/jitter are refused earlier.
    """
    if is_empty(s):
        return []
    assert s is not None
    use_netem = netem and bool(s.delay_ms or s.jitter_ms or s.loss_pct)
    out = []
    if use_netem:
        out.append(Qdisc("netem", ROOT_HANDLE, None, netem_options(s)))
    if s.rate_bit:
        if use_netem:
            out.append(Qdisc("tbf", CHILD_HANDLE, CHILD_PARENT, tbf_options(s.rate_bit, mtu)))
        else:
            out.append(Qdisc("tbf", ROOT_HANDLE, None, tbf_options(s.rate_bit, mtu)))
    return out


# -- random loss without netem: an nftables ruleset ---------------------------------------


def loss_threshold(pct: float) -> int:
    return round(pct * LOSS_STEPS / 100)


def loss_chain(ifname: str) -> str:
    # A prefix keeps interface names clear of nft keywords; the name is checked first.
    ifname_literal(ifname)
    return f"loss-{ifname}"


def loss_ruleset(ifname: str, pct: float | None) -> str:
    """nft batch that sets (or, with no loss, removes) the random drop on `ifname`'s INGRESS.

    It runs in the namespace of the receiving end: a drop at ingress is silent, as on a
    real wire, while a drop at the sender's egress is reported back to local senders as
    an error (ping and TCP would just retry). Declaring the chain before deleting it makes
    the removal work whether or not it existed, in one atomic batch.
    """
    chain = loss_chain(ifname)
    lines = [
        f"table netdev {LOSS_TABLE} {{",
        f"\tchain {chain} {{",
        f"\t\ttype filter hook ingress device {ifname_literal(ifname)} priority 0;"
        " policy accept;",
        "\t}",
        "}",
    ]
    if pct:
        # numgen's value is below LOSS_STEPS, so 100 % cannot be "< N": it drops everything.
        match = "" if loss_threshold(pct) >= LOSS_STEPS else \
            f"numgen random mod {LOSS_STEPS} < {loss_threshold(pct)} "
        lines.append(f"flush chain netdev {LOSS_TABLE} {chain}")
        lines.append(f"add rule netdev {LOSS_TABLE} {chain} {match}counter drop")
    else:
        lines.append(f"delete chain netdev {LOSS_TABLE} {chain}")
    return "\n".join(lines) + "\n"


_LOSS_RULE = re.compile(r"numgen random mod (\d+) < (\d+)")


def parse_loss_rule(listing: str) -> float | None:
    """The loss percentage a `list chain` output of loss_ruleset's chain drops, or None."""
    m = _LOSS_RULE.search(listing)
    if m is None:
        return 100.0 if re.search(r"\bdrop\b", listing) else None
    return round(int(m.group(2)) * 100 / int(m.group(1)), 2)
