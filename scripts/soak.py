#!/usr/bin/env python3
"""Soak: deploy and destroy one big lab many times, watching for leaks and slowdowns.

    sudo python scripts/soak.py --hosts 199 --cycles 50 [--uplink]

Prints one line per cycle (deploy and destroy seconds, kernel memory, this process's RSS
and open fds) and a host snapshot diff at the end (tests/support/hostsnap.py). The
lab is called t5soak; it is destroyed even when interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the checkout, for the tests' shared helpers

from tests.support import hostsnap, topogen  # noqa: E402


def kernel_kb() -> int:
    with open("/proc/meminfo") as f:
        m = {line.split(":")[0]: int(line.split()[1]) for line in f}
    return m["Slab"] + m.get("KernelStack", 0) + m.get("PageTables", 0)


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=199)
    ap.add_argument("--switches", type=int, default=4)
    ap.add_argument("--cycles", type=int, default=20)
    ap.add_argument("--uplink", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 2
    from netlab.lab import Lab

    path = Path(tempfile.mkdtemp()) / "t5soak.toml"
    path.write_text(topogen.star_lab("t5soak", args.hosts, args.switches, args.uplink))
    before = hostsnap.snapshot()
    k0, r0 = kernel_kb(), rss_kb()
    print("cycle  deploy_s  destroy_s  kernel_MB  rss_MB  fds")
    try:
        for i in range(1, args.cycles + 1):
            t0 = time.perf_counter()
            lab = Lab.deploy(path)
            t1 = time.perf_counter()
            lab.destroy()
            t2 = time.perf_counter()
            print(f"{i:5d}  {t1 - t0:8.3f}  {t2 - t1:9.3f}  {(kernel_kb() - k0) / 1024:9.1f}"
                  f"  {(rss_kb() - r0) / 1024:6.1f}  {len(os.listdir('/proc/self/fd')):3d}")
    finally:
        from netlab.backends.kernel.destroy import destroy_lab

        destroy_lab("t5soak")
    time.sleep(2)  # the kernel frees namespaces asynchronously
    print(f"kernel memory after settling: {(kernel_kb() - k0) / 1024:+.1f} MB")
    lines = hostsnap.diff(before, hostsnap.snapshot()).splitlines()
    if lines:  # other labs deployed meanwhile show up here too
        print(f"host changed ({len(lines)} differences; other labs count too):")
        print("\n".join(lines[:30] + (["..."] if len(lines) > 30 else [])))
    else:
        print("host unchanged")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
