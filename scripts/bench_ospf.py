#!/usr/bin/env python3
"""OSPF labs at size (issue 12's figures; docs/performance.md, "Routing labs"):

    sudo python3 scripts/bench_ospf.py [--shapes ring:10 grid:5x10 ring:100] [--runs 1]

For each lab, generated here with netlab's own OSPF (`routing = "ospf"`) and a loopback per
router, deployed through the Lab API:
- deploy: wall time of Lab.deploy, and the peak RSS of this process;
- FRR: the RSS of every daemon of the lab together (from each node's `exec` services);
- converged: time from the start of deploy until every [[expect]] passes: each router
  has every neighbour Full, and the first router pings every other router's loopback
  (checked by Lab.check, the expectations' `within` being the wait).
Needs root and FRR; each lab gets a unique name and is destroyed at the end.
"""

from __future__ import annotations

import argparse
import resource
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def topology(name: str, shape: str) -> str:
    kind, size = shape.split(":")
    if kind == "ring":
        n = int(size)
        nodes = [f"r{i}" for i in range(n)]
        links = [(nodes[i], nodes[(i + 1) % n]) for i in range(n)]
    else:
        rows, cols = (int(x) for x in size.split("x"))
        nodes = [f"r{i}-{j}" for i in range(rows) for j in range(cols)]
        links = [(f"r{i}-{j}", f"r{i}-{j + 1}") for i in range(rows) for j in range(cols - 1)]
        links += [(f"r{i}-{j}", f"r{i + 1}-{j}") for i in range(rows - 1) for j in range(cols)]
    out = [f'[lab]\nname = "{name}"\nrouting = "ospf"\nwithin = "60s"\n']
    for k, n in enumerate(nodes):
        out.append(f'[nodes.{n}]\nkind = "router"\nloopback = ["10.{200 + k // 250}.'
                   f'{k % 250}.1/32"]\n')
    for a, b in links:
        out.append(f'[[links]]\nendpoints = ["{a}", "{b}"]\n')
    peers: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in links:
        peers[a].append(b)
        peers[b].append(a)
    for n in nodes:
        for p in peers[n]:
            out.append(f'[[expect]]\nfrom = "{n}"\nospf = {{ neighbor = "{p}" }}\n')
    for n in nodes[1:]:
        out.append(f'[[expect]]\nfrom = "{nodes[0]}"\nto = "{n}:lo"\n')
    return "".join(out)


def frr_rss_kib(lab: object) -> int:
    total = 0
    for node in lab.status().nodes:  # type: ignore[attr-defined]
        for p in node.processes:
            try:
                status = Path(f"/proc/{p.pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def one(shape: str, tmp: Path) -> dict[str, float]:
    from netlab.api import load
    from netlab.lab import Lab

    name = "bo" + secrets.token_hex(4)
    f = tmp / f"{name}.toml"
    f.write_text(topology(name, shape))
    plan = load(f).plan
    t0 = time.perf_counter()
    lab = Lab.deploy(plan)
    try:
        deployed = time.perf_counter() - t0
        report = lab.check()
        converged = time.perf_counter() - t0
        failed = [r.title for r in report if not r.passed]
        if failed:
            print(f"{shape}: {len(failed)} expectations failed, e.g. {failed[:3]}",
                  file=sys.stderr)
        rss = frr_rss_kib(lab)
    finally:
        lab.destroy()
    return {"deploy": deployed, "converged": converged, "ok": float(not failed),
            "frr_mib": rss / 1024, "expect": float(len(plan.expect)),
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", nargs="+", default=["ring:10", "grid:5x10", "ring:100"])
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="netlab-bench-"))
    print("| lab | routers | expectations | deploy s | all expectations pass s | FRR RSS MiB |"
          " netlab peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for shape in args.shapes:
        runs = [one(shape, tmp) for _ in range(args.runs)]
        kind, size = shape.split(":")
        n = 1
        for part in size.split("x"):  # "5x10" -> 50
            n *= int(part)
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        ok = "" if all(r["ok"] for r in runs) else " (some failed)"
        print(f"| OSPF {kind} | {n} | {med['expect']:.0f} | {med['deploy']:.2f} |"
              f" {med['converged']:.2f}{ok} | {med['frr_mib']:.0f} | {med['peak_mib']:.0f} |")


if __name__ == "__main__":
    main()
