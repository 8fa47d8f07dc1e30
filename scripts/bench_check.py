#!/usr/bin/env python3
"""How long `netlab check` takes (issue 13 item 6; figures in docs/probes.md).

    sudo python3 scripts/bench_check.py [--runs 5]

Deploys three labs under fresh names (destroyed at the end, also on failure) and times:
  a) the natgw lab's check: `netlab check NAME` end to end (a new process, as a user runs
     it) and in-process (netlab.api.check); target < 0.3 s;
  b) a 50-expectation lab of mixed kinds (icmp, tcp and udp states, dns, route, address,
     command, path, size, rtt, loss; no rate) when all pass; target < 1 s;
  c) 16 and 24 failures with a 1 s timeout each (silence: an address nobody holds),
     checked in parallel: they must cost about one timeout each round of check's 16
     workers, not one per failure.
Prints one line per figure (best and median of --runs) and the ratio to its target.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

MIXED_LAB = """
[lab]
name = "{name}"
within = "0s"
[nodes.a]
[nodes.b]
[nodes.r]
kind = "router"
[[links]]
endpoints = ["a", "r"]
subnet = "10.81.1.0/24"
[[links]]
endpoints = ["r", "b"]
subnet = "10.81.2.0/24"
"""

# Fifty expectations of eleven kinds that pass on MIXED_LAB. Answers that are ICMP errors
# (port unreachable, time exceeded) come from distinct (answerer, asker) pairs: the kernel
# rate-limits them per peer (a burst of 6, then one a second), so five identical UDP probes
# at once would see silence.
PAIRS = [("a", "b"), ("b", "a"), ("r", "a"), ("r", "b"), ("a", "r")]
# Port unreachable from the target to the source; the path a -> b has r answer a.
UDP_PAIRS = [("a", "b"), ("b", "a"), ("r", "a"), ("r", "b"), ("b", "r")]
MIXED = (
    [f'from = "{s}"\nto = "{d}"' for s, d in PAIRS]
    + [f'from = "{s}"\nto = "{d}"\nproto = "tcp"\nport = 22\nstate = "closed"'
       for s, d in PAIRS]
    + [f'from = "{s}"\nto = "{d}"\nproto = "udp"\nport = 53\nstate = "closed"'
       for s, d in UDP_PAIRS]
    + [f'from = "{s}"\ndns = {{ name = "{d}" }}' for s, d in PAIRS]
    + ['from = "a"\nroute = { to = "default", via = "10.81.1.2" }'] * 5
    + ['from = "r"\naddress = { dev = "eth1", ip = "10.81.2.1/24" }'] * 5
    + ['from = "b"\ncommand = { run = "true", exit = 0 }'] * 5
    + ['from = "a"\nto = "b"\npath = { nodes = ["r"] }']
    + [f'from = "{s}"\nto = "{d}"\nsize = 1400' for s, d in PAIRS]
    + [f'from = "{s}"\nto = "{d}"\nrtt = {{ max = "100ms", count = 5 }}' for s, d in PAIRS]
    + ['from = "a"\nto = "b"\nloss = { max = "0%", count = 5 }'] * 4
)
assert len(MIXED) == 50

# Expectations that wait out their whole timeout: as many as check's 16 workers, then
# half as many again (a second round of timeouts).
FAILING = (16, 24)


def lab_text(body: str, name: str, expects: list[str]) -> str:
    return body.replace("{name}", name) + "".join(f"\n[[expect]]\n{x}\n" for x in expects)


def natgw_text(name: str) -> str:
    text = (REPO / "topologies" / "natgw.toml").read_text()
    return text.replace('name = "natgw"', f'name = "{name}"', 1)


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float, object]:
    times, last = [], None
    for _ in range(runs):
        start = time.perf_counter()
        last = fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times), last


def netlab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netlab", *args], capture_output=True,
                          text=True, check=False)


def line(what: str, best: float, median: float, target: float | None) -> None:
    ratio = f"  {median / target:.2f} x target {target:g} s" if target else ""
    print(f"{what:<46} best {best:6.3f} s  median {median:6.3f} s{ratio}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    from netlab import api

    token = secrets.token_hex(3)
    names = {"natgw": f"bn{token}", "mixed": f"bm{token}",
             **{f"fail{n}": f"bf{n}{token}" for n in FAILING}}
    work = Path(tempfile.mkdtemp(prefix="netlab-bench-"))
    files = {
        "natgw": natgw_text(names["natgw"]),
        "mixed": lab_text(MIXED_LAB, names["mixed"], MIXED),
        **{f"fail{n}": lab_text(MIXED_LAB, names[f"fail{n}"], [
            'from = "a"\nto = "10.81.2.99"\ntimeout = 1.0' if k % 2 else
            'from = "a"\nto = "10.81.2.99"\nproto = "tcp"\nport = 80\ntimeout = 1.0'
            for k in range(n)]) for n in FAILING},
    }
    deployed = []
    try:
        for key, text in files.items():
            path = work / f"{names[key]}.toml"
            path.write_text(text)
            r = netlab("deploy", str(path), "--check")
            deployed.append(names[key])
            if r.returncode != 0 and not key.startswith("fail"):
                print(f"deploy --check of {key} failed:\n{r.stdout}{r.stderr}",
                      file=sys.stderr)
                return 1
        # a) natgw
        best, med, res = timed(lambda: netlab("check", names["natgw"]), args.runs)
        assert isinstance(res, subprocess.CompletedProcess) and res.returncode == 0, res
        line("a) natgw: `netlab check NAME` (new process)", best, med, 0.3)
        best, med, rep = timed(lambda: api.check(names["natgw"]), args.runs)
        assert rep.ok, rep  # type: ignore[attr-defined]
        line("a) natgw: api.check (in-process)", best, med, 0.3)
        # b) 50 mixed, all pass
        best, med, rep = timed(lambda: api.check(names["mixed"]), args.runs)
        bad = [(r.title, r.seen) for r in rep if not r.passed]  # type: ignore[attr-defined]
        if bad:
            print(f"b) not all passed: {bad}", file=sys.stderr)
            return 1
        line("b) 50 mixed kinds, all pass (in-process)", best, med, 1.0)
        best, med, res = timed(lambda: netlab("check", names["mixed"]), args.runs)
        line("b) 50 mixed kinds: `netlab check NAME`", best, med, 1.0)
        # c) failures, each waiting its 1 s timeout
        for n in FAILING:
            best, med, rep = timed(lambda n=n: api.check(names[f"fail{n}"]), args.runs)
            assert not any(r.passed for r in rep)  # type: ignore[attr-defined]
            line(f"c) {n} failures of timeout 1 s, in parallel", best, med, 1.0)
        print("   (serially they would take 16 s / 24 s or more)")
    finally:
        for name in deployed:
            netlab("destroy", name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
