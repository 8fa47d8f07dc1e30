"""BGP (FRR's bgpd): one session per shared segment between two BGP routers (eBGP between
different `asn`, iBGP with next-hop-self within one), networks from the router's connected
and loopback IPv4 prefixes, no policy required (`no bgp ebgp-requires-policy`), lab timers.

iBGP sessions are made only between routers that share a segment (no full mesh over
loopbacks: there is no IGP to reach them), so an AS of more than two routers in a row
does not pass iBGP routes along (docs/routing.md).
"""

from __future__ import annotations

from netlab.compile.frr.base import Lab, Protocol, Router
from netlab.errors import toml_key

PRIVATE_ASN = 64512  # the first private 16-bit AS number (RFC 6996): suggested in fixes


def check(lab: Lab) -> None:
    tf, p = lab.b.tf, lab.b.problems
    s = tf.bgp
    if s.hold != 0 and s.hold < 3:
        p.error("bgp.hold", f"hold = {s.hold}: BGP takes 0 (never time out) or at least 3"
                " seconds", "set bgp.hold = 3 (or more)")
    elif s.hold != 0 and s.keepalive > s.hold:
        p.error("bgp.keepalive", f"keepalive ({s.keepalive} s) is longer than hold"
                f" ({s.hold} s): sessions would time out between keepalives",
                f"set bgp.keepalive = {max(1, s.hold // 3)} (a third of hold)")
    routers = lab.of("bgp")
    used = {n.asn for n in tf.nodes.values() if n.asn is not None}
    spare = (a for a in range(PRIVATE_ASN + 1, 4294967295) if a not in used)
    for r in routers:
        if r.handwritten:
            continue
        base = f"nodes.{toml_key(r.name)}"
        if r.node.asn is None:
            p.error(base, f"router {r.name!r} runs BGP but has no asn (autonomous system"
                    " number)", f"set nodes.{r.name}.asn = {next(spare)} (each AS its own"
                    " number; 64512-65534 are private)")
        elif not any(port.neighbours for port in r.ports):
            p.warning(base, f"router {r.name!r} runs BGP but shares no link or switch with"
                      " another BGP router: it has no peers",
                      f"link {r.name} to another router that runs BGP")
    for name, node in tf.nodes.items():
        if node.asn is not None and (name not in lab.routers
                                     or lab.routers[name].protocol != "bgp"):
            p.warning(f"nodes.{toml_key(name)}.asn", f"{name!r} does not run BGP; its asn"
                      " is not used", 'remove it, or set routing = "bgp" on a router')


def config(lab: Lab, r: Router) -> list[str]:
    s = lab.b.tf.bgp
    asn = r.node.asn
    out: list[str] = []
    for port in r.ports:
        out += [f"interface {port.ifname}", f" description {port.label}", "exit", "!"]
    out.append(f"router bgp {asn}")
    if r.router_id:
        out.append(f" bgp router-id {r.router_id}")
    out += [" bgp log-neighbor-changes", " no bgp ebgp-requires-policy",
            " no bgp default ipv4-unicast", f" timers bgp {s.keepalive} {s.hold}"]
    # A peer with a hand-written frr.conf may have no asn in the lab: any other AS then.
    peers = [(n, lab.routers[n.node].node.asn) for port in r.ports for n in port.neighbours]
    for n, theirs in peers:
        out += [f" neighbor {n.address} remote-as {theirs or 'external'}",
                f" neighbor {n.address} description {n.node}",
                f" neighbor {n.address} timers connect {s.connect_retry}",
                f" neighbor {n.address} advertisement-interval {s.advertisement_interval}"]
    out += [" !", " address-family ipv4 unicast"]
    nets = sorted({x.network for port in r.ports for x in port.v4}
                  | {x.network for x in r.loopback4},
                  key=lambda n: (int(n.network_address), n.prefixlen))
    out += [f"  network {n}" for n in nets]
    if r.default_route:
        out.append("  network 0.0.0.0/0")
    for n, theirs in peers:
        out.append(f"  neighbor {n.address} activate")
        if theirs == asn:  # iBGP: routes learnt by eBGP keep a next hop it cannot reach
            out.append(f"  neighbor {n.address} next-hop-self")
    out += [" exit-address-family", "exit", "!"]
    return out


PROTOCOL = Protocol(
    name="bgp",
    daemon="bgpd",
    description="BGP (IPv4): eBGP/iBGP sessions on shared segments, lab timers",
    check=check,
    config=config,
)
