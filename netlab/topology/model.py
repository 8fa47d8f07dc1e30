"""The typed model of a topology file: the single source of truth for its format.

The JSON Schema (`netlab schema`), the key reference in docs/topology.md, the graph and
the plan are all derived from these classes. Field descriptions are user-facing text.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator
from pydantic_core import PydanticCustomError

from netlab.compile import kinds

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _typed(value: object, what: str) -> object:
    # Already-parsed objects pass; numbers and tables are mistakes, not addresses.
    if isinstance(value, ipaddress._BaseNetwork | ipaddress._BaseAddress):
        return value
    raise ValueError(f"expected {what}, got {value!r}")


def _network(value: object) -> object:
    if not isinstance(value, str):
        return _typed(value, 'a subnet string such as "10.0.0.0/24"')
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError:
        try:
            loose = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a subnet in CIDR notation such as 10.0.0.0/24 or fd00::/64"
            ) from None
        raise ValueError(
            f"{value!r} has host bits set; the subnet is {loose.with_prefixlen}"
        ) from None


def _address(value: object) -> object:
    if not isinstance(value, str):
        return _typed(value, 'an address string such as "10.0.0.1"')
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address such as 10.0.0.1 or fd00::1") from None


def _interface(value: object) -> object:
    """An address with an optional prefix length: '10.0.0.5/24' or '10.0.0.5'."""
    if not isinstance(value, str):
        return _typed(value, 'an address string such as "10.0.0.5/24"')
    try:
        return ipaddress.ip_interface(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not an address such as 10.0.0.5/24 (the prefix length is optional)"
        ) from None


def _v4_only(value: object) -> object:
    value = _network(value)
    if isinstance(value, ipaddress.IPv6Network):
        raise ValueError(f"{value} is an IPv6 subnet; this key takes an IPv4 subnet")
    return value


def _v6_only(value: object) -> object:
    value = _network(value)
    if isinstance(value, ipaddress.IPv4Network):
        raise ValueError(f"{value} is an IPv4 subnet; this key takes an IPv6 subnet")
    return value


Subnet = Annotated[IPNetwork, BeforeValidator(_network)]
Subnet4 = Annotated[ipaddress.IPv4Network, BeforeValidator(_v4_only)]
Subnet6 = Annotated[ipaddress.IPv6Network, BeforeValidator(_v6_only)]
Address = Annotated[IPAddress, BeforeValidator(_address)]
Interface = Annotated[
    ipaddress.IPv4Interface | ipaddress.IPv6Interface, BeforeValidator(_interface)
]
Mtu = Annotated[int, Field(ge=68, le=65535)]


class _Strict(BaseModel):
    # Unknown keys are errors: a typo must never be silently ignored. Strict: TOML has real
    # types, so "yes" is not a boolean and "80" is not a port (as the JSON Schema says).
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, strict=True)


class LabSection(_Strict):
    name: str = Field(
        description="Lab name: lowercase letters, digits and '-', starting with a letter; "
        "at most 12 characters. Names the lab's state directory.",
        examples=["natgw"],
    )
    description: str = Field("", description="One line saying what the lab shows.")
    prefix: str | None = Field(
        None,
        description="Namespace prefix: node N lives in netns '<prefix>-N'. "
        "Defaults to the lab name; \"\" means bare node names.",
    )
    routing: Literal["auto", "none", "ospf", "rip", "bgp"] = Field(
        "auto",
        description="'auto': static routes on routers to every subnet, from shortest paths; "
        "'none': only connected, default and hand-written routes; 'ospf', 'rip', 'bgp': "
        "FRR runs that protocol in every router (config generated from the lab, see "
        "docs/routing.md); hosts keep static default routes.",
    )
    lesson: str = Field("", description="Optional lesson text shown with the lab.")
    hosts_file: bool = Field(
        True,
        description="Give every node an /etc/hosts naming the lab's nodes and addresses; "
        "false: netlab writes none (a node then sees the machine's own /etc/hosts, and "
        "names resolve through its DNS servers only), unless a node sets it true.",
        examples=[False],
    )
    within: str | None = Field(
        None, description='Default `within` of every expectation ("10s"). Without it a'
        " failure is final at once, except right after deploy (deploy --check, Lab.check):"
        " then expectations that need an answer are re-tried until 5s after deploy.",
        examples=["10s"])


class Defaults(_Strict):
    dns: list[Address] = Field(
        default_factory=list, description="Nameservers written to each node's resolv.conf."
    )
    search: list[str] = Field(
        default_factory=list, description="Search domains written to each node's resolv.conf."
    )
    ipv6: bool = Field(False, description="Also give nodes IPv6 addresses from the v6 pools.")
    mtu: Mtu = Field(1500, description="MTU of every lab interface.")
    pid: bool = Field(
        False, description="Give every node its own PID namespace: `ps` in a node shows only"
        " its processes, and destroy ends a node by ending its init.", examples=[True])


class Pools(_Strict):
    lan: Subnet4 = Field(
        ipaddress.IPv4Network("10.10.0.0/16"),
        description="One /24 from here for each switch without a subnet.",
    )
    p2p: Subnet4 = Field(
        ipaddress.IPv4Network("10.255.0.0/16"),
        description="One /30 from here for each node-to-node link without a subnet.",
    )
    lan6: Subnet6 = Field(
        ipaddress.IPv6Network("fd00:10::/48"),
        description="One /64 from here for each switch (when ipv6 is on).",
    )
    p2p6: Subnet6 = Field(
        ipaddress.IPv6Network("fd00:255::/48"),
        description="One /64 from here for each node-to-node link (when ipv6 is on).",
    )


class Route(_Strict):
    to: Literal["default"] | Subnet = Field(
        description="Destination subnet, or \"default\"."
    )
    via: Address | None = Field(None, description="Next-hop address on a connected subnet.")
    dev: str | None = Field(None, description="Outgoing interface (needed when there is no via).")


class PortForward(_Strict):
    proto: Literal["tcp", "udp"] = Field("tcp", description="Protocol to forward.")
    port: int = Field(ge=1, le=65535, description="Port on the router to forward.")
    to: str = Field(description="Inside destination as 'address:port', e.g. '10.0.0.10:80'.")
    on: str | None = Field(
        None, description="Only forward packets arriving on this interface (default: any)."
    )


FileMode = Annotated[int, Field(ge=0, le=0o7777)]


class FileSpec(_Strict):
    """A file netlab writes into a node's private machine at deploy."""

    content: str | None = Field(None, description="The file's text.",
                                examples=["hostname r1\n"])
    source: str | None = Field(
        None, description="A file to copy, relative to the topology file's directory (it"
        " must stay inside it; no symlinks).", examples=["r1/frr.conf"])
    mode: FileMode | None = Field(
        None, description="Permission bits, e.g. 0o755 (TOML octal); default 0o644.",
        examples=[0o755])


class Nat(_Strict):
    masquerade: list[str] = Field(
        default_factory=list,
        description="Interfaces whose outgoing traffic gets the interface's address (SNAT).",
    )
    forward: list[PortForward] = Field(
        default_factory=list, description="Port forwards (DNAT) to inside addresses."
    )


def _kind(value: object) -> object:
    # Checked against the registry when a file is read (a kind registered later, e.g. by
    # a test, is accepted); the same error as a Literal's, so the loader words it alike.
    if isinstance(value, str) and value in kinds.KINDS:
        return value
    raise PydanticCustomError("literal_error", "Input should be {expected}",
                              {"expected": " or ".join(repr(k) for k in kinds.KINDS)})


def _kind_schema(schema: dict[str, Any]) -> None:
    schema.update(enum=kinds.names(), type="string")  # registered when the schema is made


# The kinds registered at import, for the key reference (scripts/gen_docs.py); validation
# and the JSON Schema ask the registry itself.
KindName = Literal[tuple(kinds.names())]  # type: ignore[valid-type]


class Node(_Strict):
    kind: Annotated[KindName, PlainValidator(_kind)] = Field(
        kinds.DEFAULT, description="'router' turns on IPv4 and IPv6 forwarding.",
        json_schema_extra=_kind_schema,
    )
    gateway: str | Literal[False] | None = Field(
        None,
        description="Default route via this router (a node name) or address. Omitted: "
        "the single router on the host's segments, if there is exactly one; false: no "
        "default route.",
    )
    routes: list[Route] = Field(default_factory=list, description="Extra static routes.")
    sysctl: dict[str, str | int] = Field(
        default_factory=dict,
        description="Sysctls set in the node's namespace (net.* only); a per-interface one "
        "(net.ipv4.conf.eth0.rp_filter) names one of the node's interfaces, all, default "
        "or lo.",
    )
    nat: Nat | None = Field(None, description="NAT rules (nftables) in the node.")
    firewall: str | None = Field(
        None,
        description="nftables rules of this node: the body of a table (chains, sets), loaded "
        "atomically into netlab's own table 'inet netlab_fw' in the node's namespace.",
        examples=['chain input { type filter hook input priority filter; policy drop; '
                  'ct state established,related accept; tcp dport 80 accept; }'],
    )
    exec: list[str] = Field(
        default_factory=list,
        description="Long-running commands started in the node after the network is up "
        "(run by /bin/sh -c; output in the lab's log directory).",
    )
    dns: list[Address] | None = Field(None, description="Overrides defaults.dns.")
    search: list[str] | None = Field(None, description="Overrides defaults.search.")
    ipv6: bool | None = Field(None, description="Overrides defaults.ipv6.")
    mtu: Mtu | None = Field(None, description="Overrides defaults.mtu on this node's links.")
    hosts_file: bool | None = Field(
        None, description="Overrides lab.hosts_file for this node: false gives it no "
        "/etc/hosts of the lab (e.g. a node that must ask its DNS server).",
        examples=[False])
    files: dict[str, str | FileSpec] = Field(
        default_factory=dict,
        description="Files written into the node's private machine at deploy: absolute path"
        " in the node -> its text, or a table (content or source, mode). A directory"
        " <topology dir>/<node>/ is mirrored into the node too, when present.",
        examples=[{"/etc/motd": "welcome to r1\n"}])
    startup: list[str] = Field(
        default_factory=list,
        description="Commands run once, in order, in the node after the network is up and"
        " before `exec` (by /bin/sh -c); a failing one fails the deploy, with its output.",
        examples=[["ip link set eth0 address 02:00:00:00:00:01"]])
    pid: bool | None = Field(None, description="Overrides defaults.pid.", examples=[True])
    loopback: list[Interface] = Field(
        default_factory=list,
        description="Addresses on the node's lo (IPv4 /32, IPv6 /128 unless a length is"
        " given); routing protocols advertise them.", examples=[["10.0.0.1/32"]])
    routing: Literal["auto", "none", "ospf", "rip", "bgp"] | None = Field(
        None, description="Overrides lab.routing for this node.", examples=["ospf"])
    asn: int | None = Field(None, ge=1, le=4294967295,
                            description="BGP: the node's autonomous system number.",
                            examples=[65001])
    area: str | int | None = Field(
        None, description="OSPF: area of the node's interfaces (links and switches may"
        " override it); default 0.", examples=["0.0.0.1"])


class Switch(_Strict):
    subnet: Subnet4 | None = Field(None, description="IPv4 subnet; else one /24 from pools.lan.")
    subnet6: Subnet6 | None = Field(
        None, description="IPv6 subnet; else one /64 from pools.lan6 (when ipv6 is on)."
    )
    mtu: Mtu | None = Field(None, description="MTU of the bridge and its ports.")
    addresses: bool = Field(
        True, description="false: netlab gives the nodes' interfaces on this switch no"
        " address (the students configure them), except those a link's addresses name.",
        examples=[False])
    stp: bool = Field(False, description="Run the kernel's spanning tree protocol on the"
                      " bridge (needed when switches form a loop).", examples=[True])
    ageing: int | None = Field(
        None, ge=0, le=1000000, description="Seconds a learnt MAC address is kept (kernel"
        " default 300); 0: never learn, flood every frame like a hub.", examples=[0])
    cost: int | None = Field(None, ge=1, le=65535,
                             description="OSPF cost of the routers' interfaces on it.",
                             examples=[10])
    area: str | int | None = Field(None, description="OSPF area of this segment.",
                                   examples=["0.0.0.1"])


def _unit_value(value: object) -> object:
    # A bare number has no unit: 1 could be 1% or 1 bit/s. Checked fully by the compiler.
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"{value!r} has no unit; write a string such as \"10mbit\", "
                         "\"20ms\" or \"1%\"")
    return value


LinkValue = Annotated[str, BeforeValidator(_unit_value)]


class EndProps(_Strict):
    """Properties of one end of a link: they shape the traffic that end sends."""

    rate: LinkValue | None = Field(None, description="Rate limit, e.g. \"1mbit\".")
    delay: LinkValue | None = Field(None, description="Added delay, e.g. \"20ms\".")
    jitter: LinkValue | None = Field(None, description="Delay variation, e.g. \"5ms\".")
    loss: LinkValue | None = Field(None, description="Random loss, e.g. \"1%\".")
    mtu: Mtu | None = Field(None, description="MTU of this end only.")
    mac: str | None = Field(None, description="MAC address of this end's interface (else"
                            " random).", examples=["02:00:00:00:00:01"])


class Link(_Strict):
    endpoints: Annotated[list[str], Field(min_length=2, max_length=2)] = Field(
        description="Two endpoints: \"node\", \"node:ifname\" or a switch name."
    )
    addresses: list[Interface | list[Interface]] | None = Field(
        None,
        description="One entry per node endpoint, in order: an address ('10.0.0.20/24'), "
        "or a list of addresses (one v4 and one v6); [] gives that interface no address.",
    )
    subnet: Subnet4 | None = Field(
        None, description="IPv4 subnet of a node-to-node link; else one /30 from pools.p2p."
    )
    subnet6: Subnet6 | None = Field(
        None, description="IPv6 subnet of a node-to-node link; else one /64 from pools.p2p6."
    )
    mtu: Mtu | None = Field(None, description="MTU of both ends.")
    rate: LinkValue | None = Field(
        None, description="Rate limit of each direction, e.g. \"10mbit\" (tbf).",
        examples=["10mbit"])
    delay: LinkValue | None = Field(
        None, description="Delay added in each direction, e.g. \"20ms\" (needs netem).",
        examples=["20ms"])
    jitter: LinkValue | None = Field(
        None, description="Random variation of the delay, e.g. \"5ms\" (needs netem).",
        examples=["5ms"])
    loss: LinkValue | None = Field(
        None, description="Share of packets lost in each direction, e.g. \"1%\".",
        examples=["1%"])
    cost: int | None = Field(None, ge=1, le=65535,
                             description="OSPF cost of both ends of this link.",
                             examples=[10])
    area: str | int | None = Field(None, description="OSPF area of this link.",
                                   examples=[1])
    props: Annotated[list[EndProps], Field(min_length=2, max_length=2)] | None = Field(
        None,
        description="Per-end properties, one table per endpoint in order; each shapes what "
        "that end SENDS and overrides the link-wide value, e.g. [{rate=\"1mbit\"}, {}].",
    )


class DnsExpect(_Strict):
    name: str = Field(description="Name to resolve with the node's resolver.")
    answer: Address | list[Address] | None = Field(
        None, description="Address the answer must contain; a list: exactly the addresses"
        " the answer must hold (in any order).")


class RouteExpect(_Strict):
    to: str = Field(description='Destination the route is for: a subnet, "default" (IPv4) or'
                    ' "default6".', examples=["10.0.2.0/24"])
    via: Address | None = Field(None, description="Next hop the route must use.")
    dev: str | None = Field(None, description="Interface the route must leave by.")


class AddressExpect(_Strict):
    dev: str = Field(description="Interface of the node (from) that must hold it.")
    ip: Interface | None = Field(
        None, description="Address it must hold; with a prefix length, that length too.")
    mac: str | None = Field(None, description="MAC address it must have.",
                            examples=["02:00:00:00:00:01"])


class NeighborExpect(_Strict):
    ip: Address = Field(description="Address the node must have a neighbour (ARP/NDP) entry "
                        "for.", examples=["10.0.0.3"])
    mac: str | None = Field(None, description="MAC address the entry must hold.",
                            examples=["02:00:00:00:00:03"])
    dev: str | None = Field(None, description="Interface the entry must be on.",
                            examples=["eth0"])


class PathExpect(_Strict):
    nodes: list[str] | None = Field(
        None, description="Nodes the packets cross between from and to, in order.",
        examples=[["r1", "r2"]])
    exact: bool = Field(True, description="false: these nodes in this order, others "
                        "between them allowed.", examples=[False])
    hops: int | None = Field(None, ge=1, le=30, description="Hops to the target (routers "
                             "crossed + 1).", examples=[3])


class HttpExpect(_Strict):
    path: str = Field("/", description="Path requested (with a query, if any).",
                      examples=["/index.html"])
    status: int = Field(200, ge=100, le=599, description="Status the answer must have.",
                        examples=[404])
    body: str | None = Field(None, description="Regular expression the body must contain "
                             "a match for.", examples=["Directory listing"])


class OspfExpect(_Strict):
    neighbor: str = Field(description="The neighbour: a node of the lab, or a router id.",
                          examples=["r2"])
    state: str = Field("Full", description='State it must be in ("Full/DR" counts as'
                       ' "Full").', examples=["Full"])


class BgpExpect(_Strict):
    peer: str = Field(description="The peer: a node of the lab, or an address.",
                      examples=["r2"])
    state: str = Field("Established", description="State the session must be in.",
                       examples=["Established"])


class BoundsExpect(_Strict):
    min: str | None = Field(None, description="Lower bound.")
    max: str | None = Field(None, description="Upper bound.")
    count: int = Field(20, ge=1, le=1000, description="Echo requests sent (10 ms apart).")


class RttExpect(BoundsExpect):
    min: str | None = Field(None, description="Lowest average round trip allowed.",
                            examples=["1ms"])
    max: str | None = Field(None, description="Highest average round trip allowed.",
                            examples=["5ms"])


class LossExpect(BoundsExpect):
    min: str | None = Field(None, description="Lowest share of requests lost allowed.",
                            examples=["10%"])
    max: str | None = Field(None, description="Highest share of requests lost allowed.",
                            examples=["10%"])


class RateExpect(_Strict):
    min: str | None = Field(None, description="Lowest rate the transfer must reach.",
                            examples=["5mbit"])
    max: str | None = Field(None, description="Highest rate the transfer may reach.",
                            examples=["20mbit"])
    time: str = Field("1s", description="How long the TCP stream runs (at most 2s).",
                      examples=["500ms"])


class CommandExpect(_Strict):
    run: list[str] | str = Field(
        description="Command run in the node: an argument list, or a string split like a "
        "shell's words (no shell runs it).", examples=[["vtysh", "-c", "show ip route"]])
    exit: int | None = Field(0, ge=0, le=255,
                             description="Exit code it must end with (none: any).")
    output: str | None = Field(
        None, description="Regular expression its output (stdout) must contain a match for.")


def _protos() -> list[str]:
    # As node kinds (_kind): the expectation kind registry (netlab/probes/kinds) says
    # which `proto` values exist when a file is read, so a kind registered later is taken.
    from netlab.probes import kinds as expect_kinds

    return expect_kinds.protos()


def _proto(value: object) -> object:
    if isinstance(value, str) and value in _protos():
        return value
    raise PydanticCustomError("literal_error", "Input should be {expected}",
                              {"expected": " or ".join(repr(k) for k in _protos())})


def _proto_schema(schema: dict[str, Any]) -> None:
    schema.update(enum=_protos(), type="string")


# The proto values registered at import, for the key reference (scripts/gen_docs.py).
ProtoName = Literal[tuple(_protos())]  # type: ignore[valid-type]


class Expect(_Strict):
    from_: str = Field(alias="from", description="Node the probe is sent from.")
    to: str | None = Field(
        None, description="Target: node, node:ifname, or an IP address."
    )
    proto: Annotated[ProtoName, PlainValidator(_proto)] = Field(
        "icmp", description="Probe protocol (http: a GET, see `http`).",
        json_schema_extra=_proto_schema)
    port: int | None = Field(None, ge=1, le=65535, description="Port, for tcp and udp.")
    reach: bool = Field(True, description="Whether the probe must get through.")
    via: str | None = Field(None, description="A node the path must cross.")
    source_nat: Address | None = Field(
        None, description="Source address the packet must arrive at the target with."
    )
    dns: DnsExpect | None = Field(None, description="A name the node's resolver must answer.")
    timeout: float = Field(1.0, gt=0, le=30, description="Seconds to wait for an answer.")
    # Which state suits which proto is asked of the expectation kinds (compile checks).
    state: Literal["open", "closed", "filtered", "reply", "no-answer"] | None = Field(
        None, description='Outcome a tcp probe must see: "open" (SYN-ACK), "closed" (RST) or'
        ' "filtered" (silence or an ICMP error); udp: "reply", "closed" (port unreachable)'
        ' or "no-answer". Instead of reach.', examples=["closed"])
    within: str | None = Field(
        None, description='Retry a failing check for up to this long ("30s"): for labs'
        " that converge (routing daemons, services starting). Overrides lab.within.",
        examples=["30s"])
    route: RouteExpect | None = Field(
        None, description="A route the node (from) must have in its main table.")
    address: AddressExpect | None = Field(
        None, description="An address (or MAC) an interface of the node must hold.")
    command: CommandExpect | None = Field(
        None, description="A command run in the node: its exit code and output.")
    http: HttpExpect | None = Field(
        None, description='With proto = "http": what the GET asks and must get back.')
    path: PathExpect | None = Field(
        None, description="The route packets from `from` to `to` take (traceroute).")
    neighbor: NeighborExpect | None = Field(
        None, description="A neighbour (ARP/NDP) entry the node must have, resolved.")
    size: int | None = Field(
        None, ge=68, le=65535, description="With icmp: send one echo request of this many"
        " bytes (the whole IP packet) to `to`; with df, it must get through (reach) or be"
        " refused with fragmentation needed / packet too big (reach = false).",
        examples=[1500])
    df: bool | None = Field(
        None, description="With size: set don't-fragment (default true); false lets the"
        " source fragment it.", examples=[True])
    rtt: RttExpect | None = Field(
        None, description="Average round trip of `count` echo requests to `to`, within"
        " bounds.", examples=[{"max": "5ms", "count": 20}])
    loss: LossExpect | None = Field(
        None, description="Share of `count` echo requests to `to` left unanswered, within"
        " bounds.", examples=[{"max": "10%", "count": 100}])
    rate: RateExpect | None = Field(
        None, description="A TCP stream from `from` to `to` for `time` reaches at least"
        " `min` / at most `max` (bits per second, as link rates).",
        examples=[{"min": "5mbit"}])
    ospf: OspfExpect | None = Field(
        None, description="FRR: an OSPF neighbour of the node (from) in a state, read from"
        " `vtysh -c 'show ip ospf neighbor json'`.",
        examples=[{"neighbor": "r2", "state": "Full"}])
    bgp: BgpExpect | None = Field(
        None, description="FRR: a BGP session of the node (from) in a state, read from"
        " `vtysh -c 'show bgp summary json'`.",
        examples=[{"peer": "r2", "state": "Established"}])
    points: float = Field(1, ge=0, le=1000, description="Points it is worth in the score.",
                          examples=[2])
    hint: str | None = Field(
        None, max_length=500, description="Shown when it fails: a pointer for the student.",
        examples=["Does gw forward? sysctl net.ipv4.ip_forward"])


# The uplink's subnet is routed on the host: it must be small, and private or shared
# address space, so that it never hides a real network (compiler.py checks, deploy checks
# the host's own routes and addresses).
UPLINK_PRIVATE = tuple(ipaddress.IPv4Network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"))
UPLINK_DEFAULT_RANGE = UPLINK_PRIVATE[3]
UPLINK_PREFIX_MIN, UPLINK_PREFIX_MAX = 28, 30  # a /30 holds the two addresses; /28 at most


class Uplink(_Strict):
    node: str = Field(description="Node connected to the host's root namespace.")
    ifname: str = Field("uplink", description="Interface name on the node's side.")
    subnet: Subnet4 | None = Field(
        None,
        description=f"Subnet between host and node: a /{UPLINK_PREFIX_MAX} (at most a"
        f" /{UPLINK_PREFIX_MIN}) inside "
        + ", ".join(str(n) for n in UPLINK_PRIVATE)
        + ", used by no route or address of the host; else a"
        f" /{UPLINK_PREFIX_MAX} derived from the lab name inside {UPLINK_DEFAULT_RANGE}.",
    )
    masquerade: bool = Field(
        True, description="Masquerade lab traffic leaving the host (in a netlab-owned table)."
    )
    isolated: bool = Field(
        True,
        description="Drop traffic between this lab and other labs' uplinks through the host;"
        " two labs reach each other only if both set false.",
        examples=[False],
    )


class TopologyFile(_Strict):
    """A netlab topology file."""

    lab: LabSection = Field(description="Lab name and global options.")
    defaults: Defaults = Field(default_factory=Defaults, description="Defaults for every node.")
    pools: Pools = Field(default_factory=Pools, description="Address pools.")
    nodes: dict[str, Node] = Field(
        default_factory=dict, description="Hosts and routers, by name."
    )
    switches: dict[str, Switch] = Field(
        default_factory=dict, description="L2 segments (Linux bridges), by name."
    )
    links: list[Link] = Field(default_factory=list, description="Wires between endpoints.")
    expect: list[Expect] = Field(
        default_factory=list, description="What `netlab check` verifies."
    )
    uplink: Uplink | None = Field(None, description="Connect one node to the host.")
    # The routing protocols' settings; their classes are at the end of this module
    # (resolved when the model is first used, hence the lambdas).
    ospf: OspfSettings = Field(default_factory=lambda: OspfSettings(),
                               description="OSPF timers and options (routing = \"ospf\").",
                               examples=[{"hello": 2, "dead": 8}])
    rip: RipSettings = Field(default_factory=lambda: RipSettings(),
                             description="RIP timers and options (routing = \"rip\").",
                             examples=[{"update": 30, "timeout": 180, "garbage": 120}])
    bgp: BgpSettings = Field(default_factory=lambda: BgpSettings(),
                             description="BGP timers and options (routing = \"bgp\").",
                             examples=[{"keepalive": 10, "hold": 30}])


# -- lab-wide settings of the routing protocols (FRR, docs/routing.md) --------------------
# The defaults are lab timers: a small lab converges in about a second instead of FRR's
# 40-65 s (docs/routing.md has the measurements). Each is overridable in the file.

Throttle = Annotated[list[Annotated[int, Field(ge=0, le=600000)]],
                     Field(min_length=3, max_length=3)]


class OspfSettings(_Strict):
    """Settings of OSPF (FRR's ospfd) in every router that runs it."""

    hello: int = Field(1, ge=1, le=65535, description="Seconds between hellos"
                       " (`ip ospf hello-interval`; FRR's default 10).", examples=[10])
    dead: int = Field(3, ge=1, le=65535, description="Seconds without a hello before a"
                      " neighbour is declared down (`ip ospf dead-interval`; FRR's default"
                      " 40); more than hello.", examples=[40])
    retransmit: int = Field(1, ge=1, le=65535, description="Seconds before an unanswered"
                            " database description or LSA is sent again (`ip ospf"
                            " retransmit-interval`; FRR's default 5).", examples=[5])
    point_to_point: bool = Field(
        True, description="Links between two routers are point-to-point networks (no DR"
        " election: adjacent at once); false: broadcast, as on switches.", examples=[False])
    passive: bool = Field(
        True, description="Interfaces on segments with no other OSPF router (towards"
        " hosts) send no hellos; their subnets are still advertised.", examples=[False])
    spf_throttle: Throttle = Field(
        [0, 50, 500], description="Milliseconds: delay, initial hold and maximum hold of SPF"
        " runs (`timers throttle spf`; FRR's default 0 50 5000).",
        examples=[[0, 50, 5000]])
    lsa_interval: int = Field(
        50, ge=0, le=5000, description="Milliseconds between two originations of one LSA"
        " (`timers throttle lsa all`; FRR's default 5000).", examples=[5000])
    lsa_min_arrival: int = Field(
        0, ge=0, le=600000, description="Milliseconds between accepted copies of one LSA"
        " (`timers lsa min-arrival`; FRR's default 1000).", examples=[1000])


class RipSettings(_Strict):
    """Settings of RIP version 2 (FRR's ripd) in every router that runs it."""

    update: int = Field(5, ge=5, le=2147483647, description="Seconds between full updates"
                        " (`timers basic`; FRR's default 30).", examples=[30])
    timeout: int = Field(15, ge=5, le=2147483647, description="Seconds until a route not"
                         " heard of again is invalid (FRR's default 180).", examples=[180])
    garbage: int = Field(10, ge=5, le=2147483647, description="Seconds an invalid route is"
                         " still advertised, unreachable, before it is removed (FRR's"
                         " default 120).", examples=[120])
    passive: bool = Field(
        True, description="Interfaces on segments with no other RIP router send no"
        " updates; their subnets are still advertised.", examples=[False])


class BgpSettings(_Strict):
    """Settings of BGP (FRR's bgpd) in every router that runs it."""

    keepalive: int = Field(1, ge=0, le=65535, description="Seconds between keepalives"
                           " (`timers bgp`; FRR's default 60).", examples=[60])
    hold: int = Field(3, ge=0, le=65535, description="Seconds without a message before a"
                      " session is down: 0 (never) or at least 3 (FRR's default 180).",
                      examples=[180])
    connect_retry: int = Field(1, ge=1, le=65535, description="Seconds between attempts"
                               " to open a session (FRR's default 120).", examples=[120])
    advertisement_interval: int = Field(
        0, ge=0, le=600, description="Minimum seconds between updates to a peer (FRR's"
        " default 0 for iBGP, 30 for eBGP in older releases).", examples=[30])



TopologyFile.model_rebuild()  # resolves the settings classes named in TopologyFile above
