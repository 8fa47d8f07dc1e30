"""Probes: real packets sent from inside a deployed lab's namespaces.

Every function takes the lab's Plan (netlab.state.store.read_plan, or Lab.plan) and node names;
none imports pyroute2, and only capture imports scapy (packets.py builds and reads the
probes' packets). Sockets are opened in the lab's namespaces by the lab's backend
(Backend.open_socket), never by stepping into them here.

    ping(plan, "pc1", "web")            ICMP echo            -> PingResult
    probe(plan, "pc1", "web", "tcp", 80) TCP SYN / UDP        -> PortResult
    trace(plan, "pc1", "web")           TTL-limited echo     -> TraceResult
    pingall(plan)                       reachability matrix  -> PingallResult
    check(plan)                         every [[expect]]     -> CheckReport

What `check` can verify is a registry of expectation kinds (netlab.probes.kinds).
"""

from __future__ import annotations

from netlab.probes.check import check
from netlab.probes.icmp import ping
from netlab.probes.matrix import pingall
from netlab.probes.tcpudp import probe
from netlab.probes.trace import trace

__all__ = ["check", "ping", "pingall", "probe", "trace"]
