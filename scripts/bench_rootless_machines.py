#!/usr/bin/env python3
"""Benchmark a routing lab without root against root: the bundled ospf lab (or another,
--lab) deployed by root and by a real unprivileged user (made for the run, removed
after), alternately, so that the machine's load hits both alike. Needs root.

    python3 scripts/bench_rootless_machines.py [--lab ospf] [--runs 3]

Per run and mode: `deploy` (whole command, the user's includes starting the holder), then
`check` until every expectation passes (the lab's `within` makes check retry, so this is
the time OSPF takes to converge, to ~0.25 s), then `destroy`. Prints the medians.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.rootless import acl  # noqa: E402
from tests.rootless.conftest import User, _blocked_dirs, _make_user, _remove_user  # noqa: E402


def timed(run: object, *args: str) -> float:
    t = time.perf_counter()
    r = run(*args)  # type: ignore[operator]
    took = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"netlab {' '.join(args)} failed ({r.returncode}):\n{r.stdout}"
                         f"{r.stderr}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lab", default="ospf")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (it makes a user and compares root with it)")
    d = Path(f"/tmp/nlbench-{secrets.token_hex(4)}")
    d.mkdir(mode=0o755)
    user: User | None = None
    granted: list[tuple[str, object]] = []
    env = {k: v for k, v in os.environ.items() if k != "NETLAB_RUN_DIR"}

    def as_root(*a: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "netlab", *a], capture_output=True,
                              text=True, env=env, cwd=ROOT, timeout=300)

    try:
        user = _make_user("b")
        for p in _blocked_dirs([user.uid]):
            granted.append((p, acl.grant_search(p, [user.uid])))
        text = (ROOT / "topologies" / f"{args.lab}.toml").read_text()
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.runs):
            for mode, run in (("root", as_root), ("rootless", user.run)):
                name = "b" + secrets.token_hex(4)
                topo = d / f"{name}.toml"
                topo.write_text(text.replace(f'name = "{args.lab}"', f'name = "{name}"', 1))
                topo.chmod(0o644)
                dep = timed(run, "deploy", str(topo))
                chk = timed(run, "check", "--lab", name)
                des = timed(run, "destroy", name)
                for verb, t in (("deploy", dep), ("check (until it passes)", chk),
                                ("deploy + converged", dep + chk), ("destroy", des)):
                    times.setdefault((verb, mode), []).append(t)
        print(f"lab {args.lab}, {args.runs} runs each, median (min-max) seconds:")
        print(f"| {'':24} | {'root':>18} | {'rootless':>18} | rootless / root |")
        for verb in ("deploy", "check (until it passes)", "deploy + converged", "destroy"):
            r, u = times[(verb, "root")], times[(verb, "rootless")]
            cell = [f"{statistics.median(x):.2f} ({min(x):.2f}-{max(x):.2f})" for x in (r, u)]
            print(f"| {verb:24} | {cell[0]:>18} | {cell[1]:>18} |"
                  f" {statistics.median(u) / statistics.median(r):14.2f}x |")
    finally:
        if user is not None:
            user.run("destroy", "--all")
            _remove_user(user)
        for p, saved in reversed(granted):
            acl.revoke(p, saved)  # type: ignore[arg-type]
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
