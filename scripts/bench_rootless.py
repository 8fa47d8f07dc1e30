#!/usr/bin/env python3
"""Benchmark the rootless mode against root: the same lab deployed, checked and destroyed
by `netlab` as root and by `netlab --rootless` (root in its own user namespace: the code
path an unprivileged user takes, docs/rootless.md), alternately, so that the machine's
load hits both alike. Needs root.

    python3 scripts/bench_rootless.py [--hosts 100] [--runs 5]

Each row is the median wall time of the whole command (interpreter start-up included).
The rootless deploy includes starting the holder (no lab is left between runs, so every
destroy ends it and every deploy starts one): the cost a user pays for a first lab.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.topogen import star_lab  # noqa: E402


def timed(argv: list[str], env: dict[str, str], must: bool) -> tuple[float, int]:
    """Wall time and exit status; a failed deploy or destroy ends the benchmark (a
    failed probe is timed all the same: its status is shown)."""
    t = time.perf_counter()
    r = subprocess.run(argv, capture_output=True, text=True, env=env)
    took = time.perf_counter() - t
    if r.returncode != 0 and must:
        raise SystemExit(f"{' '.join(argv)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return took, r.returncode


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=100)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (it compares root with --rootless)")
    with tempfile.TemporaryDirectory() as tmp:
        xdg = Path(tmp) / "xdg"
        xdg.mkdir(mode=0o700)
        env = {**os.environ, "XDG_RUNTIME_DIR": str(xdg)}
        env.pop("NETLAB_RUN_DIR", None)
        name = "b" + secrets.token_hex(4)
        topo = Path(tmp) / f"{name}.toml"
        topo.write_text(star_lab(name, args.hosts))
        verbs = {"deploy": ["deploy", str(topo)], "pingall": ["pingall", "--lab", name],
                 "check": ["check", "--lab", name], "destroy": ["destroy", name]}
        times: dict[tuple[str, str], list[float]] = {}
        codes: dict[tuple[str, str], set[int]] = {}
        for _ in range(args.runs):
            for mode, extra in (("root", []), ("rootless", ["--rootless"])):
                for verb, rest in verbs.items():
                    argv = [sys.executable, "-m", "netlab", *extra, *rest]
                    took, code = timed(argv, env, verb in ("deploy", "destroy"))
                    times.setdefault((mode, verb), []).append(took)
                    codes.setdefault((mode, verb), set()).add(code)
    print(f"star lab, {args.hosts} hosts + 1 router + 1 switch, median of {args.runs}"
          " runs, wall seconds")
    print("| verb | root | rootless | rootless / root | exit status (root, rootless) |")
    print("|---|---|---|---|---|")
    for verb in verbs:
        r, u = (statistics.median(times[(m, verb)]) for m in ("root", "rootless"))
        st = ", ".join("/".join(map(str, sorted(codes[(m, verb)])))
                       for m in ("root", "rootless"))
        print(f"| {verb} | {r:.2f} | {u:.2f} | {u / r:.2f}x | {st} |")


if __name__ == "__main__":
    main()
