#!/usr/bin/env python3
"""Convergence of generated FRR labs: deploy a ring of N routers running OSPF (or RIP,
BGP), then time until every router has all its neighbours (OSPF: Full; BGP:
Established; RIP: a route to every loopback) and r1 reaches the farthest loopback.

    sudo python3 scripts/bench_frr.py [--routers 10] [--protocol ospf] [--runs 3]

Needs root and FRR. The lab gets a unique name and is destroyed at the end."""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def ring(name: str, n: int, proto: str) -> str:
    lines = ["[lab]", f'name = "{name}"', f'routing = "{proto}"']
    for i in range(1, n + 1):
        lines += [f"[nodes.r{i}]", 'kind = "router"', f'loopback = ["10.0.0.{i}/32"]']
        if proto == "bgp":
            lines.append(f"asn = {65000 + i}")
    for i in range(1, n + 1):
        lines += ["[[links]]", f'endpoints = ["r{i}", "r{i % n + 1}"]']
    return "\n".join(lines) + "\n"


def converged(lab: object, node: str, proto: str, n: int) -> bool:
    show = {"ospf": "show ip ospf neighbor json", "bgp": "show bgp summary json",
            "rip": "show ip route rip json"}[proto]
    r = lab.exec(node, ["vtysh", "-c", show])  # type: ignore[attr-defined]
    try:
        data = json.loads(r.stdout or "{}")
    except ValueError:
        return False
    if proto == "ospf":
        return sum(str(x.get("nbrState", "")).startswith("Full")
                   for xs in data.get("neighbors", {}).values() for x in xs) == 2
    if proto == "bgp":
        peers = data.get("ipv4Unicast", {}).get("peers", {})
        return sum(p.get("state") == "Established" for p in peers.values()) == 2
    return sum(1 for k in data if k.startswith("10.0.0.")) == n - 1


def once(n: int, proto: str) -> tuple[float, float, float]:
    from netlab.lab import Lab

    name = "bf" + secrets.token_hex(5)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.toml"
        path.write_text(ring(name, n, proto))
        t0 = time.monotonic()
        lab = Lab.deploy(path)
        deployed = time.monotonic() - t0
        try:
            nodes = [f"r{i}" for i in range(1, n + 1)]
            todo = set(nodes)
            with ThreadPoolExecutor(4) as pool:
                while todo:
                    done = pool.map(lambda x: (x, converged(lab, x, proto, n)), sorted(todo))
                    todo -= {x for x, ok in done if ok}
                    if time.monotonic() - t0 > 120:
                        raise SystemExit(f"not converged after 120 s: {sorted(todo)}")
            full = time.monotonic() - t0
            far = f"10.0.0.{n // 2 + 1}"
            while subprocess.run(["ip", "netns", "exec", lab.plan.node("r1").netns, "ping",
                                  "-c1", "-W0.2", far], capture_output=True).returncode:
                pass
            reach = time.monotonic() - t0
        finally:
            lab.destroy()
    return deployed, full, reach


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--routers", type=int, default=10)
    ap.add_argument("--protocol", default="ospf", choices=["ospf", "rip", "bgp"])
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    print(f"{a.routers}-router {a.protocol} ring, seconds from the start of deploy:")
    print("  deploy   converged   r1 reaches the far loopback")
    for _ in range(a.runs):
        d, f, r = once(a.routers, a.protocol)
        print(f"  {d:6.2f}   {f:9.2f}   {r:6.2f}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
