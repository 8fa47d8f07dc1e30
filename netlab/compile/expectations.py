"""The expectations pass: [[expect]] entries checked and their targets resolved to the
address the probe is sent to, over the node plans (the plan's own target resolver).
What suits which kind (ports, states) is asked of the expectation kind registry."""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Callable

from netlab.compile.context import Build
from netlab.compile.linkprops import PropError, parse_loss, parse_rate, parse_time
from netlab.compile.macs import MAC as _MAC
from netlab.errors import Problems, no_such_node
from netlab.plan.lookup import NotFound, Resolver
from netlab.plan.model import (
    AddressCheck,
    BgpCheck,
    BoundsCheck,
    CommandCheck,
    ExpectPlan,
    HttpCheck,
    NeighborCheck,
    NodePlan,
    OspfCheck,
    PathCheck,
    RateCheck,
    RouteCheck,
)
from netlab.probes import kinds
from netlab.topology.endpoints import EndpointError
from netlab.topology.model import (
    AddressExpect,
    BoundsExpect,
    CommandExpect,
    Expect,
    NeighborExpect,
    RateExpect,
    RouteExpect,
)


def build(b: Build) -> None:
    tf, p = b.tf, b.problems
    resolver = Resolver(tf.lab.name, b.nodes, uplink=b.uplink)
    nodes = {n.name: n for n in b.nodes}
    lab_within = _seconds(tf.lab.within, "lab.within", p)
    out = []
    for k, e in enumerate(tf.expect):
        base = f"expect[{k}]"
        ok = _check(b, base, e)
        target = None
        if e.to is not None:
            target = _target(resolver, e.to, f"{base}.to", p)
            ok = ok and target is not None
        reach = _reach(base, e, p)
        within = _seconds(e.within, f"{base}.within", p)
        node = nodes.get(e.from_)
        route = _route(f"{base}.route", e.route, node, p) if e.route else None
        address = _address(f"{base}.address", e.address, node, p) if e.address else None
        command = _command(f"{base}.command", e.command, p) if e.command else None
        neighbor = _neighbor(f"{base}.neighbor", e.neighbor, node, p) if e.neighbor else None
        path = _path(b, f"{base}.path", e) if e.path else None
        http = _http(f"{base}.http", e, p)
        sized = _size(base, e, p)
        rtt = _bounds(f"{base}.rtt", e.rtt, parse_time, p) if e.rtt else None
        loss = _bounds(f"{base}.loss", e.loss, parse_loss, p) if e.loss else None
        rate = _rate(f"{base}.rate", e.rate, p) if e.rate else None
        if not ok or reach is None or within is False or route is False \
                or address is False or command is False or neighbor is False or path is False \
                or http is False or not sized \
                or rtt is False or loss is False or rate is False:
            continue
        if within is None:  # right after deploy, check also settles (probes/retry.py)
            within = lab_within if isinstance(lab_within, float) else 0.0
        out.append(ExpectPlan(
            index=k, from_node=e.from_, to=e.to, target_address=target, proto=e.proto,
            port=e.port, reach=reach, via=e.via,
            source_nat=None if e.source_nat is None else str(e.source_nat),
            dns_name=e.dns.name if e.dns else None,
            dns_answer=str(e.dns.answer) if e.dns and e.dns.answer is not None
            and not isinstance(e.dns.answer, list) else None,
            dns_answers=[str(x) for x in e.dns.answer] if e.dns
            and isinstance(e.dns.answer, list) else None,
            timeout=e.timeout, state=e.state, within=within,
            route=route, address=address, command=command, neighbor=neighbor, path=path,
            http=http, size=e.size, df=e.df is not False, rtt=rtt, loss=loss, rate=rate,
            ospf=None if e.ospf is None else OspfCheck(neighbor=e.ospf.neighbor,
                                                       state=e.ospf.state),
            bgp=None if e.bgp is None else BgpCheck(peer=e.bgp.peer, state=e.bgp.state),
            points=float(e.points), hint=e.hint,
        ))
    b.expect = out


def _check(b: Build, base: str, e: Expect) -> bool:
    """Report what is wrong with an expectation besides its target; False: no plan for it."""
    tf, p = b.tf, b.problems
    ok = True
    if e.from_ not in tf.nodes:
        p.error(f"{base}.from", no_such_node(e.from_, tf.nodes), "name one of the lab's nodes")
        ok = False
    if e.via is not None and e.via not in tf.nodes:
        p.error(f"{base}.via", no_such_node(e.via, tf.nodes), "name one of the lab's nodes")
    if e.dns is not None and e.dns.answer == []:
        p.error(f"{base}.dns.answer", "an empty list names no address the answer must hold",
                'list the addresses: answer = ["10.0.0.80", "10.0.0.81"], or remove answer')
    for key, other in (("ospf.neighbor", e.ospf and e.ospf.neighbor),
                       ("bgp.peer", e.bgp and e.bgp.peer)):
        if other and other not in tf.nodes and not _is_address(other):
            p.error(f"{base}.{key}", no_such_node(other, tf.nodes),
                    "name one of the lab's nodes, or give an address")
    if problem := kinds.port_problem(e.proto, e.port):
        p.error(f"{base}.port", *problem)
    if e.to is None and e.dns is None and e.route is None and e.address is None \
            and e.command is None and e.neighbor is None and e.path is None \
            and e.ospf is None and e.bgp is None:
        p.error(base, "an expectation needs a target",
                'add to = "NODE" (or dns, route, address, neighbor or command = {...})')
    return ok


def _reach(base: str, e: Expect, p: Problems) -> bool | None:
    """Whether the expectation must get through: `reach`, or what its `state` says
    (the kind's first state is the one that gets through). None: a problem."""
    if e.state is None:
        return e.reach
    kind = kinds.KINDS.get(e.proto)
    states = list(kind.states) if kind is not None else []
    if not states:
        p.error(f"{base}.state", f"{e.proto} expectations have no state",
                'remove state, or set proto = "tcp" (open, closed, filtered) or "udp" '
                "(reply, closed, no-answer)")
        return None
    if e.state not in states:
        p.error(f"{base}.state", f"{e.proto} has no state {e.state!r}",
                "use one of: " + ", ".join(states))
        return None
    if e.to is None:
        p.error(f"{base}.state", "state is what a probe to a target sees, and there is no to",
                'add to = "NODE", or remove state')
        return None
    reach = e.state == states[0]
    if "reach" in e.model_fields_set and e.reach != reach:
        p.error(f"{base}.reach", f"reach = {str(e.reach).lower()} contradicts "
                f"state = {e.state!r}", "remove reach: the state says whether it gets through")
        return None
    return reach


def _size(base: str, e: Expect, p: Problems) -> bool:
    """size/df, rtt, loss, rate: probes of their own to a target (one per expectation);
    False after a problem."""
    ok = True
    if e.df is not None and e.size is None:
        p.error(f"{base}.df", "df says how a packet of a given size is sent, and there is "
                "no size", "add size = 1500, or remove df")
        ok = False
    given = [k for k in ("size", "rtt", "loss", "rate") if getattr(e, k) is not None]
    if len(given) > 1:
        p.error(f"{base}.{given[1]}", f"{given[0]} and {given[1]} are two probes: one per "
                "expectation", f"move {given[1]} to an [[expect]] of its own")
        ok = False
    for key in given[:1]:
        if e.proto != "icmp":
            what = "a TCP stream of its own" if key == "rate" else "ICMP echo"
            p.error(f"{base}.{key}", f"{key} is measured with {what}, not proto {e.proto}",
                    "remove proto")
            ok = False
        if e.to is None:
            p.error(f"{base}.{key}", f"{key} is measured to a target, and there is no to",
                    'add to = "NODE"')
            ok = False
    return ok


def _bounds(path: str, x: BoundsExpect, parse: Callable[[object], float],
            p: Problems) -> BoundsCheck | bool:
    """rtt (ms) / loss (percent) bounds; False after a problem."""
    got: dict[str, float | None] = {}
    ok = True
    for key in ("min", "max"):
        text = getattr(x, key)
        try:
            got[key] = None if text is None else float(parse(text))
        except PropError as err:
            p.error(f"{path}.{key}", str(err), err.fix)
            ok = False
    if ok and got["min"] is None and got["max"] is None:
        p.error(path, "a bound needs min or max", 'add max = "' + (
            "10%" if path.endswith("loss") else "5ms") + '"')
        ok = False
    lo, hi = got.get("min"), got.get("max")
    if ok and lo is not None and hi is not None and lo > hi:
        p.error(path, f"min ({x.min}) is above max ({x.max})", "swap them")
        ok = False
    return BoundsCheck(min=lo, max=hi, count=x.count) if ok else False


def _rate(path: str, r: RateExpect, p: Problems) -> RateCheck | bool:
    ok = True
    got: dict[str, int | None] = {}
    for key in ("min", "max"):
        text = getattr(r, key)
        try:
            got[key] = None if text is None else parse_rate(text)
        except PropError as err:
            p.error(f"{path}.{key}", str(err), err.fix)
            ok = False
    seconds = _seconds(r.time, f"{path}.time", p)
    if seconds is False:
        ok = False
    elif isinstance(seconds, float) and not 0.1 <= seconds <= 2.0:
        p.error(f"{path}.time", f"{r.time!r}: a transfer runs from 100ms to 2s",
                'write time = "1s"')
        ok = False
    if ok and got["min"] is None and got["max"] is None:
        p.error(path, "a rate expectation needs min or max", 'add min = "5mbit"')
        ok = False
    lo, hi = got.get("min"), got.get("max")
    if ok and lo is not None and hi is not None and lo > hi:
        p.error(path, f"min ({r.min}) is above max ({r.max})", "swap them")
        ok = False
    return RateCheck(min_bit=lo, max_bit=hi, seconds=float(seconds)) if ok else False


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _seconds(text: str | None, path: str, p: Problems) -> float | bool | None:
    """A duration ("30s") in seconds; None when not given, False after a problem."""
    if text is None:
        return None
    try:
        return parse_time(text) / 1000.0
    except PropError as err:
        p.error(path, str(err), err.fix.replace('"20ms"', '"30s"'))
        return False


def _dev(path: str, dev: str | None, node: NodePlan | None, p: Problems) -> bool:
    """Whether `dev` is an interface of the node (lo, or one of its plan)."""
    if dev is None or node is None:
        return True
    names = ["lo"] + [i.name for i in node.interfaces]
    if dev in names:
        return True
    p.error(path, f"{node.name} has no interface {dev!r}", "use one of: " + ", ".join(names))
    return False


def _route(path: str, r: RouteExpect, node: NodePlan | None,
           p: Problems) -> RouteCheck | bool:
    ok = _dev(f"{path}.dev", r.dev, node, p)
    to = r.to
    if to not in ("default", "default6"):
        try:
            net = ipaddress.ip_network(to, strict=False)
        except ValueError:
            p.error(f"{path}.to", f"{to!r} is not a subnet such as 10.0.2.0/24",
                    'write a subnet in CIDR notation, "default" or "default6"')
            return False
        if str(net) != to and net.with_prefixlen != to:
            p.error(f"{path}.to", f"{to!r} has host bits set", f'write to = "{net}"')
            return False
        to = ("default" if net.version == 4 else "default6") if net.prefixlen == 0 \
            else str(net)
    return RouteCheck(to=to, via=None if r.via is None else str(r.via), dev=r.dev) if ok \
        else False


def _http(path: str, e: Expect, p: Problems) -> HttpCheck | bool | None:
    """proto = "http": its request and what the answer must be (defaults: GET /, 200)."""
    if e.proto != "http":
        if e.http is not None:
            p.error(path, "http = {...} says what a GET must return", 'add proto = "http"')
            return False
        return None
    h = e.http
    if h is None:
        return HttpCheck(path="/", status=200, body=None)
    ok = True
    if not h.path.startswith("/") or any(c in h.path for c in " \r\n"):
        p.error(f"{path}.path", f"{h.path!r} is not a request path",
                'start it with "/", without spaces: "/index.html"')
        ok = False
    if h.body is not None:
        ok &= _pattern(f"{path}.body", h.body, p)
    return HttpCheck(path=h.path, status=h.status, body=h.body) if ok else False


def _pattern(path: str, pattern: str, p: Problems) -> bool:
    try:
        re.compile(pattern)
    except re.error as err:
        p.error(path, f"{pattern!r} is not a regular expression: {err}",
                "fix the pattern (in TOML, a '...' string keeps backslashes as written)")
        return False
    return True


def _path(b: Build, path: str, e: Expect) -> PathCheck | bool:
    p, pe = b.problems, e.path
    assert pe is not None
    ok = True
    if e.to is None:
        p.error(path, "a path leads to a target, and there is no to", 'add to = "NODE"')
        ok = False
    if not e.reach:
        p.error(f"{path}", "a path is the route to a target that answers: reach = false "
                "cannot have one", "remove reach = false (or the path)")
        ok = False
    if pe.nodes is None and pe.hops is None:
        p.error(path, "a path expectation needs nodes or hops", 'add nodes = ["gw"]')
        ok = False
    for k, name in enumerate(pe.nodes or []):
        if name not in b.tf.nodes:
            p.error(f"{path}.nodes[{k}]", no_such_node(name, b.tf.nodes),
                    "name one of the lab's nodes")
            ok = False
    return PathCheck(nodes=pe.nodes, exact=pe.exact, hops=pe.hops) if ok else False


def _mac(path: str, mac: str | None, p: Problems) -> str | None | bool:
    """A MAC address, lowercase; False after a problem."""
    if mac is None:
        return None
    if not _MAC.fullmatch(mac.lower()):
        p.error(path, f"{mac!r} is not a MAC address", 'write six hex pairs: "02:00:00:00:00:01"')
        return False
    return mac.lower()


def _neighbor(path: str, n: NeighborExpect, node: NodePlan | None,
              p: Problems) -> NeighborCheck | bool:
    ok = _dev(f"{path}.dev", n.dev, node, p)
    mac = _mac(f"{path}.mac", n.mac, p)
    if not ok or mac is False:
        return False
    return NeighborCheck(ip=str(n.ip), mac=mac or None, dev=n.dev)


def _address(path: str, a: AddressExpect, node: NodePlan | None,
             p: Problems) -> AddressCheck | bool:
    ok = _dev(f"{path}.dev", a.dev, node, p)
    mac = _mac(f"{path}.mac", a.mac, p)
    if mac is False:
        ok = False
    if a.ip is None and mac is None:
        p.error(path, "an address expectation needs ip or mac", 'add ip = "10.0.0.1/24"')
        ok = False
    if not ok:
        return False
    # "10.0.0.1" (a full-length prefix) is matched on the address alone.
    ip = None if a.ip is None else (
        str(a.ip) if a.ip.network.prefixlen < a.ip.max_prefixlen else str(a.ip.ip))
    return AddressCheck(dev=a.dev, ip=ip, mac=mac or None)


def _command(path: str, c: CommandExpect, p: Problems) -> CommandCheck | bool:
    ok = True
    argv = list(c.run) if not isinstance(c.run, str) else []
    if isinstance(c.run, str):
        try:
            argv = shlex.split(c.run)
        except ValueError as err:
            p.error(f"{path}.run", f"cannot split the command: {err}",
                    "close the quote, or write run as a list of arguments")
            ok = False
    if ok and (not argv or not argv[0]):
        p.error(f"{path}.run", "the command is empty", 'name a program: run = "ip route"')
        ok = False
    if c.output is not None:
        ok &= _pattern(f"{path}.output", c.output, p)
    return CommandCheck(argv=argv, exit=c.exit, output=c.output) if ok else False


def _target(resolver: Resolver, text: str, path: str, p: Problems) -> str | None:
    """The address a probe to `text` (node, node:ifname or an address) is sent to."""
    try:
        return resolver.addresses(resolver.resolve(text))[0]
    except (NotFound, EndpointError) as e:
        p.error(path, e.reason, e.fix)
        return None
