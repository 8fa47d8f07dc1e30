#!/usr/bin/env python3
"""Benchmark `pingall` on star labs (N hosts on one switch); needs root.

    python3 scripts/bench_pingall.py [--sizes 20 50] [--runs 5]

Each lab is deployed with netlab.lab.Lab, pinged `--runs` times, and always destroyed.
Prints the first, best and median wall time per size; the first run includes ARP
resolution (cold neighbour caches).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def star_toml(name: str, hosts: int) -> str:
    lines = [f'[lab]\nname = "{name}"\n', "[switches.lan]", 'subnet = "10.40.0.0/16"\n']
    for i in range(1, hosts + 1):
        lines.append(f"[nodes.h{i}]")
    for i in range(1, hosts + 1):
        lines.append(f'[[links]]\nendpoints = ["h{i}", "lan"]')
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[20, 50])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    from netlab.lab import Lab
    from netlab.probes.matrix import pingall

    failed = False
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"t4bench{n}.toml"
            path.write_text(star_toml(f"t4bench{n}", n))
            t0 = time.monotonic()
            lab = Lab.deploy(path, force=True)
            plan = lab.plan
            built = time.monotonic() - t0
            try:
                times, oks = [], []
                for _ in range(args.runs):
                    t = time.perf_counter()
                    r = pingall(plan)
                    times.append(time.perf_counter() - t)
                    oks.append(f"{r.ok_pairs}/{r.pairs}")
                    failed |= not r.ok
            finally:
                lab.destroy()
        print(f"{n} nodes ({n * (n - 1)} pairs): deploy {built:.2f} s; pingall first "
              f"{times[0]:.3f} s, best {min(times):.3f} s, median "
              f"{statistics.median(times):.3f} s; replies {', '.join(oks)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
