#!/usr/bin/env python3
"""What a node's private machine costs (docs/machines.md, docs/performance.md).

    python3 scripts/bench_machines.py [--nodes 200] [--runs 3]

For an N-host star, deployed in this process through the Lab API:
- deploy and destroy time with private machines, and with the machines phase skipped
  (the lab as netlab built it before machines existed), interleaved run by run;
- memory per node: the machine's used memory (MemTotal - MemAvailable, after dropping
  nothing) before deploy and after, divided by N, without and with a PID namespace per
  node (its init: a shell and a sleep).
Needs root. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def star(name: str, n: int, pid: bool) -> str:
    out = [f'[lab]\nname = "{name}"\n[defaults]\npid = {"true" if pid else "false"}\n'
           '[switches.lan]\nsubnet = "10.77.0.0/16"\n']
    for i in range(n):
        out.append(f'[nodes.h{i}]\n[[links]]\nendpoints = ["h{i}", "lan"]\n')
    return "".join(out)


def used_kib() -> int:
    info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return int(info["MemTotal"].split()[0]) - int(info["MemAvailable"].split()[0])


def one(text: str, tmp: Path, machines: bool) -> tuple[float, float, int]:
    from netlab.api import load
    from netlab.backends.kernel import apply
    from netlab.lab import Lab

    f = tmp / "bench.toml"
    f.write_text(text)
    plan = load(f).plan
    saved = list(apply.PHASES)
    if not machines:
        apply.PHASES[:] = [(n, s) for n, s in saved if n not in ("machines start", "machines")]
    try:
        gc.collect()
        time.sleep(1)
        before = used_kib()
        t0 = time.perf_counter()
        lab = Lab.deploy(plan)
        deploy = time.perf_counter() - t0
        time.sleep(1)
        used = used_kib() - before
        t0 = time.perf_counter()
        lab.destroy()
        destroy = time.perf_counter() - t0
    finally:
        apply.PHASES[:] = saved
    return deploy, destroy, used


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    import tempfile

    # A directory of its own: directories named like nodes beside a topology are mirrored.
    tmp = Path(tempfile.mkdtemp(prefix="netlab-bench-"))
    n = args.nodes
    rows: dict[str, list[tuple[float, float, int]]] = {}
    cases = [("netns only (no machines)", False, False), ("private machines", True, False),
             ("private machines + PID namespaces", True, True)]
    for _ in range(args.runs):
        for label, machines, pid in cases:
            rows.setdefault(label, []).append(one(star("benchm", n, pid), tmp, machines))
    print(f"| {n}-host star | deploy s (median) | destroy s (median) | memory per node KiB |")
    print("|---|---:|---:|---:|")
    for label, runs in rows.items():
        print(f"| {label} | {statistics.median(r[0] for r in runs):.2f}"
              f" | {statistics.median(r[1] for r in runs):.2f}"
              f" | {statistics.median(r[2] for r in runs) / n:.0f} |")


if __name__ == "__main__":
    main()
