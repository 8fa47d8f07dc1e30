"""Generated topologies for the unit tests (star of hosts, chain of routers)."""

from __future__ import annotations


def star(hosts: int, lab: str = "t2star") -> str:
    """One router and `hosts` hosts on one switch."""
    lines = [f'[lab]\nname = "{lab}"', '[nodes.gw]\nkind = "router"',
             '[switches.lan]\nsubnet = "10.0.0.0/16"',
             '[[links]]\nendpoints = ["gw", "lan"]']
    for k in range(hosts):
        lines.append(f"[nodes.h{k}]")
        lines.append(f'[[links]]\nendpoints = ["h{k}", "lan"]')
    return "\n".join(lines) + "\n"


def chain(routers: int, lab: str = "t2chain") -> str:
    """r0 - r1 - ... - r(n-1), a LAN with one host at each end, routing auto."""
    lines = [f'[lab]\nname = "{lab}"', "[nodes.ha]", "[nodes.hb]",
             "[switches.lana]", "[switches.lanb]",
             '[[links]]\nendpoints = ["ha", "lana"]',
             '[[links]]\nendpoints = ["r0", "lana"]',
             f'[[links]]\nendpoints = ["r{routers - 1}", "lanb"]',
             '[[links]]\nendpoints = ["hb", "lanb"]']
    for k in range(routers):
        lines.append(f'[nodes.r{k}]\nkind = "router"')
        if k:
            lines.append(f'[[links]]\nendpoints = ["r{k - 1}", "r{k}"]')
    return "\n".join(lines) + "\n"


def hub(hosts: int, lab: str = "t2hub") -> str:
    """One router with a node-to-node link to each of `hosts` hosts (1000s of /30s)."""
    lines = [f'[lab]\nname = "{lab}"', '[nodes.hub]\nkind = "router"']
    for k in range(hosts):
        lines.append(f'[nodes.h{k}]\n[[links]]\nendpoints = ["hub", "h{k}"]')
    return "\n".join(lines) + "\n"


def multi(switches: int, per_switch: int, lab: str = "t2multi") -> str:
    """One router and `switches` switches (a /16 each) of `per_switch` hosts."""
    lines = [f'[lab]\nname = "{lab}"', '[nodes.gw]\nkind = "router"']
    for s in range(switches):
        lines.append(f'[switches.s{s}]\nsubnet = "10.{s}.0.0/16"')
        lines.append(f'[[links]]\nendpoints = ["gw", "s{s}"]')
    for k in range(switches * per_switch):
        lines.append(f'[nodes.h{k}]\n[[links]]\nendpoints = ["h{k}", "s{k // per_switch}"]')
    return "\n".join(lines) + "\n"
