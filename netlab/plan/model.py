"""The plan: a pure, printable value listing every kernel object a lab consists of.

`netlab plan --json` prints it and the backend applies exactly it; its JSON form is a
documented contract (docs/plan.md). Bump PLAN_FORMAT on incompatible changes.

Format 2 holds what every node shares (the hosts file) once, at lab level, so that the
plan grows linearly with the lab (format 1 repeated it in every node: N^2).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from netlab.errors import NetlabError
from netlab.plan.saved import PlanLookups

PLAN_FORMAT = 2
# Saved plans of these formats are still read (converted on reading): a lab deployed by
# an older netlab can be inspected and destroyed by this one.
READABLE_FORMATS = (1, PLAN_FORMAT)


class _Value(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Peer(_Value):
    node: str = Field(description="Node or switch at the other end of the wire.")
    netns: str
    ifname: str


class Interface(_Value):
    name: str
    peer: Peer
    mtu: int
    mac: str | None = Field(None, description="MAC address set at deploy; null: random.")
    addresses: list[str] = Field(default_factory=list, description="CIDR, v4 first.")
    segment: str = Field(description="Switch name, or 'links[N]' for a node-to-node link.")


class RoutePlan(_Value):
    to: str = Field(description="'default' (v4), 'default6' (v6) or a subnet.")
    via: str | None = None
    dev: str | None = None
    origin: Literal["default", "static", "auto", "uplink"]


class PortForwardPlan(_Value):
    proto: Literal["tcp", "udp"]
    port: int
    to_addr: str
    to_port: int
    on: str | None = None


class NatPlan(_Value):
    masquerade: list[str] = Field(default_factory=list)
    forward: list[PortForwardPlan] = Field(default_factory=list)


class FilePlan(_Value):
    """A file written into the node's private machine at deploy."""

    path: str = Field(description="Absolute path in the node.")
    mode: int = Field(0o644, description="Permission bits.")
    text: str | None = Field(None, description="Its content, or null: copied from source.")
    source: str | None = Field(None, description="Absolute path of the file to copy.")


class NodePlan(_Value):
    name: str
    kind: str = Field(description="The node's kind (netlab/compile/kinds): \"host\" or \"router\".")
    netns: str
    hostname: str
    primary: dict[str, str] = Field(
        default_factory=dict, description="Primary address per family: {'4': ..., '6': ...}."
    )
    interfaces: list[Interface]
    routes: list[RoutePlan]
    sysctls: dict[str, str]
    resolv_conf: str
    nat: NatPlan | None = None
    nftables: str | None = Field(None, description="nft ruleset loaded atomically, or null.")
    exec: list[str] = Field(default_factory=list)
    hosts_file: bool = Field(True, description="Whether the node gets the plan's hosts text.")
    # Added within format 2 (with defaults): the node as a small machine (docs/machines.md).
    loopback: list[str] = Field(default_factory=list, description="Addresses on lo (CIDR).")
    files: list[FilePlan] = Field(default_factory=list)
    startup: list[str] = Field(default_factory=list, description="Run once, before exec.")
    pid: bool = Field(False, description="Its own PID namespace.")


class SwitchPort(_Value):
    ifname: str
    node: str
    node_ifname: str


class SwitchPlan(_Value):
    name: str
    netns: str
    bridge: str
    mtu: int
    subnet: str | None
    subnet6: str | None
    ports: list[SwitchPort]
    stp: bool = False
    ageing: int | None = Field(None, description="MAC ageing time, seconds; null: default.")


class ShapingPlan(_Value):
    """What a link end does to the traffic it sends (docs/links.md); null fields: nothing."""

    rate_bit: int | None = Field(None, description="Rate limit, bits per second (tbf).")
    delay_ms: float | None = Field(None, description="Added delay, milliseconds (netem).")
    jitter_ms: float | None = Field(None, description="Random delay variation, ms (netem).")
    loss_pct: float | None = Field(
        None, description="Random loss, percent (netem, or nftables where netem is missing)."
    )


class VethEnd(_Value):
    netns: str
    ifname: str
    mtu: int
    mac: str | None = Field(None, description="MAC address set at deploy; null: random.")
    shaping: ShapingPlan | None = Field(None, description="Egress shaping of this end.")


class VethPlan(_Value):
    a: VethEnd
    b: VethEnd


class UplinkPlan(_Value):
    node: str
    netns: str
    ifname: str = Field(description="Interface in the node's namespace.")
    host_ifname: str = Field(description="Interface netlab creates in the host's namespace.")
    host_address: str
    node_address: str
    masquerade: bool
    isolated: bool = Field(True, description="Traffic from other labs' uplinks is dropped.")


class RouteCheck(_Value):
    to: str = Field(description="'default', 'default6' or a subnet.")
    via: str | None = None
    dev: str | None = None


class OspfCheck(_Value):
    neighbor: str = Field(description="A node's name, or a router id.")
    state: str = "Full"


class BgpCheck(_Value):
    peer: str = Field(description="A node's name, or an address.")
    state: str = "Established"


class BoundsCheck(_Value):
    min: float | None = Field(None, description="rtt: milliseconds; loss: percent.")
    max: float | None = None
    count: int = 20


class RateCheck(_Value):
    min_bit: int | None = Field(None, description="Bits per second.")
    max_bit: int | None = None
    seconds: float = 1.0


class AddressCheck(_Value):
    dev: str
    ip: str | None = Field(None, description="Address, with '/len' when the length counts.")
    mac: str | None = Field(None, description="Lowercase, colon-separated.")


class NeighborCheck(_Value):
    ip: str
    mac: str | None = Field(None, description="Lowercase, colon-separated.")
    dev: str | None = None


class PathCheck(_Value):
    nodes: list[str] | None = Field(description="Nodes crossed before the target, in order.")
    exact: bool
    hops: int | None


class HttpCheck(_Value):
    path: str
    status: int
    body: str | None = Field(description="Regular expression the body must match (search).")


class CommandCheck(_Value):
    argv: list[str]
    exit: int | None = Field(description="Exit code required; None: any.")
    output: str | None = Field(description="Regular expression stdout must match (search).")


class ExpectPlan(_Value):
    index: int
    from_node: str
    to: str | None
    target_address: str | None = Field(description="Resolved address the probe is sent to.")
    # A kind of the expectation registry (netlab/probes/kinds), as NodePlan.kind is a
    # node kind: a plan may name one this netlab lacks (check says so), or one a test added.
    proto: str
    port: int | None
    reach: bool
    via: str | None
    source_nat: str | None
    dns_name: str | None
    dns_answer: str | None
    timeout: float
    # Added in format 2 with defaults, so that plans saved before still read.
    state: str | None = Field(None, description="TCP/UDP outcome required (open, closed...).")
    within: float = Field(0.0, description="Seconds a failing check is retried for.")
    route: RouteCheck | None = None
    address: AddressCheck | None = None
    command: CommandCheck | None = None
    neighbor: NeighborCheck | None = None
    path: PathCheck | None = None
    http: HttpCheck | None = None
    dns_answers: list[str] | None = Field(
        None, description="dns: exactly the addresses the answer must hold (any order).")
    size: int | None = Field(None, description="ICMP echo of this many bytes (IP packet).")
    df: bool = Field(True, description="With size: the don't-fragment bit.")
    rtt: BoundsCheck | None = None
    loss: BoundsCheck | None = None
    rate: RateCheck | None = None
    ospf: OspfCheck | None = None
    bgp: BgpCheck | None = None
    points: float = Field(1.0, description="Worth in the score.")
    hint: str | None = Field(None, description="Shown when it fails.")


class PlanFormatError(NetlabError):
    """A saved plan this netlab cannot read (written by a newer netlab, or damaged)."""


class Plan(_Value, PlanLookups):  # node(), namespaces: shared with saved.PlanRecord
    format: Literal[2] = PLAN_FORMAT
    lab: str
    description: str
    prefix: str
    source: str = Field(description="Path of the topology file the plan was compiled from.")
    # Added within format 2 (with a default): lets `netlab check FILE` skip compiling a
    # file whose text is the one the deployed lab was compiled from (netlab.api.check).
    source_sha256: str = Field("", description="SHA-256 (hex) of the topology text the plan"
                               " was compiled from; empty when not known.")
    hosts: str = Field(description="Text of every node's /etc/hosts (the same for all).")
    nodes: list[NodePlan]
    switches: list[SwitchPlan]
    veths: list[VethPlan]
    uplink: UplinkPlan | None = None
    expect: list[ExpectPlan] = Field(default_factory=list)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Plan:
        """Read a plan; a format-1 plan (older netlab) is converted to this format."""
        try:
            return cls.model_validate_json(text)
        except ValidationError:
            raw = json.loads(text)  # not JSON at all: ValueError, as before
            fmt = raw.get("format") if isinstance(raw, dict) else None
            if fmt == PLAN_FORMAT:
                raise  # damaged: pydantic's message says where
            if fmt == 1:
                try:
                    return cls.model_validate(_from_format_1(raw))
                except (ValueError, LookupError, TypeError, AttributeError):
                    pass  # damaged as well
            raise PlanFormatError(_unreadable(raw, fmt)) from None


def _from_format_1(raw: dict[str, Any]) -> dict[str, Any]:
    """Format 1 carried the lab's hosts file in every node (the same text in each)."""
    nodes = [dict(n) for n in raw["nodes"]]
    texts = {n.pop("hosts") for n in nodes}
    if len(texts) > 1:
        raise ValueError("nodes with different hosts files")
    default = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    return {**raw, "format": PLAN_FORMAT, "hosts": texts.pop() if texts else default,
            "nodes": nodes}


def _unreadable(raw: object, fmt: object) -> str:
    lab = raw.get("lab") if isinstance(raw, dict) else None
    lab = lab if isinstance(lab, str) else "LAB"
    if fmt in READABLE_FORMATS:
        what = f"is damaged (format {fmt})"
    else:
        what = (f"has format {fmt!r}" if fmt is not None else "has no format number") + \
            f", which this netlab cannot read (it reads {', '.join(map(str, READABLE_FORMATS))})"
    return (f"the saved plan of lab {lab!r} {what}; destroy the lab (`netlab destroy {lab}`"
            " reads any plan) and deploy it again")
