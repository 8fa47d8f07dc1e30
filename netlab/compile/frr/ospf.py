"""OSPFv2 (FRR's ospfd): areas and costs from links, switches and nodes; lab timers.

The area of a router's interface is, first found: its link's `area`, its switch's `area`,
its node's `area`, 0. Its cost: the link's `cost`, the switch's `cost`, else FRR's own
(from the interface speed). All routers on one segment must agree on its area, and every
other area must touch area 0 (a router with interfaces in both), else its routes reach no
other area. Two-router links are point-to-point networks; interfaces with no other OSPF
router on their segment are passive (`[ospf]` settings turn either off).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from netlab.compile.frr.base import Lab, Protocol, Router
from netlab.errors import toml_key


@dataclass(frozen=True)
class Area:
    number: int
    text: str  # as FRR's config takes it: "0", "1" or "0.0.0.1", as the file wrote it
    key: str  # the key path that set it ("" for the default, 0)


BACKBONE = Area(0, "0", "")


def parse_area(value: str | int) -> int | None:
    """An area as a number: 1, "1" or "0.0.0.1"; None if it is none of those."""
    if isinstance(value, int):
        return value if 0 <= value <= 0xFFFFFFFF else None
    if value.isascii() and value.isdigit():
        n = int(value)
        return n if n <= 0xFFFFFFFF else None
    try:
        return int(ipaddress.IPv4Address(value))
    except ValueError:
        return None


def _area(value: str | int | None, key: str, lab: Lab) -> Area | None:
    """The Area a key sets; None if it sets none, or is wrong (an error, reported once)."""
    if value is None:
        return None
    seen = lab.state.setdefault("ospf.keys", {})
    if key in seen:
        return seen[key]
    n = parse_area(value)
    if n is None:
        lab.b.problems.error(key, f"{value!r} is not an OSPF area",
                             'write a number (0, 1, ...) or a dotted quad such as "0.0.0.1"')
        seen[key] = None
        return None
    text = str(n) if isinstance(value, int) or "." not in value \
        else str(ipaddress.IPv4Address(n))
    seen[key] = Area(n, text, key)
    return seen[key]


def _port_area(lab: Lab, r: Router, link: int, switch: str | None) -> Area:
    """The first area set: link, switch, node; a wrong one (an error) counts as unset."""
    tf = lab.b.tf
    for value, key in (
        (tf.links[link].area, f"links[{link}].area"),
        (tf.switches[switch].area if switch else None, f"switches.{toml_key(switch or '')}.area"),
        (r.node.area, f"nodes.{toml_key(r.name)}.area"),
    ):
        if (a := _area(value, key, lab)) is not None:
            return a
    return BACKBONE


def _cost(lab: Lab, link: int, switch: str | None) -> int | None:
    tf = lab.b.tf
    if tf.links[link].cost is not None:
        return tf.links[link].cost
    return tf.switches[switch].cost if switch else None


def check(lab: Lab) -> None:
    tf, p = lab.b.tf, lab.b.problems
    s = tf.ospf
    if s.dead <= s.hello:
        p.error("ospf.dead", f"dead ({s.dead} s) must be longer than hello ({s.hello} s): a"
                " neighbour would be declared down between two hellos",
                f"set ospf.dead = {s.hello * 3} (three hellos)")
    routers = lab.of("ospf")
    areas: dict[tuple[str, str], Area] = {}  # (router, ifname) -> its area
    lab.state["ospf.areas"] = areas
    for r in routers:
        if r.handwritten:
            continue
        for port in r.ports:
            areas[(r.name, port.ifname)] = _port_area(lab, r, port.link, port.switch)
        # The loopbacks go in the node's own area.
        areas[(r.name, "lo")] = _area(r.node.area, f"nodes.{toml_key(r.name)}.area",
                                      lab) or BACKBONE
    _check_segments(lab, routers, areas)
    _check_backbone(lab, routers, areas)


def _check_segments(lab: Lab, routers: list[Router], areas: dict[tuple[str, str], Area]
                    ) -> None:
    """Routers on one segment must put it in one area (else they never become adjacent)."""
    by_segment: dict[str, list[tuple[str, Area, int, str | None]]] = {}
    for r in routers:
        for port in r.ports:
            if (r.name, port.ifname) in areas:
                by_segment.setdefault(port.segment, []).append(
                    (r.name, areas[(r.name, port.ifname)], port.link, port.switch))
    for seg, members in by_segment.items():
        if len({a.number for _, a, _, _ in members}) < 2:
            continue
        _, _, link, switch = members[0]
        key = f"switches.{toml_key(switch)}.area" if switch else f"links[{link}].area"
        said = ", ".join(f"{n} in area {a.text}" + (f" ({a.key})" if a.key else "")
                         for n, a, _, _ in members)
        lab.b.problems.error(
            key, f"the OSPF routers on {seg} put it in different areas: {said}; they would"
            " never become neighbours", f"set {key} (one area for the whole segment)")


def _check_backbone(lab: Lab, routers: list[Router], areas: dict[tuple[str, str], Area]
                    ) -> None:
    """Every area other than 0 needs a router with interfaces in it and in area 0."""
    per_router: dict[str, set[int]] = {}
    first: dict[int, Area] = {}
    for (name, ifname), a in areas.items():
        if ifname == "lo" and not lab.routers[name].loopback4:
            continue  # no loopback: the node's area is only a default for its ports
        per_router.setdefault(name, set()).add(a.number)
        if a.number not in first or (a.key and not first[a.number].key):
            first[a.number] = a
    for number, a in sorted(first.items()):
        if number == 0:
            continue
        if any(number in got and 0 in got for got in per_router.values()):
            continue
        key = a.key or "lab.routing"
        lab.b.problems.error(
            key, f"OSPF area {a.text} does not touch area 0: no router has interfaces in"
            " both, so its routes reach no other area",
            "give a router of that area a link in area 0 (an area border router), or"
            " put it in area 0")


def config(lab: Lab, r: Router) -> list[str]:
    s = lab.b.tf.ospf
    areas: dict[tuple[str, str], Area] = lab.state["ospf.areas"]
    out: list[str] = []
    for port in r.ports:
        out.append(f"interface {port.ifname}")
        out.append(f" description {port.label}")
        out.append(f" ip ospf area {areas[(r.name, port.ifname)].text}")
        if (cost := _cost(lab, port.link, port.switch)) is not None:
            out.append(f" ip ospf cost {cost}")
        if s.passive and not port.neighbours:
            out.append(" ip ospf passive")
        else:
            if s.point_to_point and port.p2p:
                out.append(" ip ospf network point-to-point")
            out.append(f" ip ospf hello-interval {s.hello}")
            out.append(f" ip ospf dead-interval {s.dead}")
            out.append(f" ip ospf retransmit-interval {s.retransmit}")
        out += ["exit", "!"]
    if r.loopback4:
        out += ["interface lo", f" ip ospf area {areas[(r.name, 'lo')].text}", "exit", "!"]
    out.append("router ospf")
    if r.router_id:
        out.append(f" ospf router-id {r.router_id}")
    out.append(" log-adjacency-changes")  # in the daemon's log: when neighbours come and go
    out.append(" timers throttle spf " + " ".join(map(str, s.spf_throttle)))
    out.append(f" timers throttle lsa all {s.lsa_interval}")
    out.append(f" timers lsa min-arrival {s.lsa_min_arrival}")
    if r.default_route:
        out.append(" default-information originate")
    out += ["exit", "!"]
    return out


PROTOCOL = Protocol(
    name="ospf",
    daemon="ospfd",
    description="OSPFv2 (IPv4): areas, costs, lab timers",
    check=check,
    config=config,
)
