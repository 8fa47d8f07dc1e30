"""Measure link shaping for real: TCP throughput through `rate`, UDP loss through `loss`.

    sudo PYTHONPATH=. python scripts/bench_links.py [--iperf3]

Deploys a two-node lab (t7bench) per setting, measures, destroys it. Figures go to
docs/performance.md by hand.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

from netlab.lab import Lab
from tests.links.conftest import tcp_throughput, udp_delivery

TOPO = """
[lab]
name = "t7bench"
[nodes.a]
[nodes.b]
[[links]]
endpoints = ["a", "b"]
subnet = "10.77.9.0/30"
{props}
"""


def deploy(props: str) -> Lab:
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write(TOPO.format(props=props))
    try:
        return Lab.deploy(Path(f.name), force=True)
    finally:
        Path(f.name).unlink()


def iperf3(lab: Lab) -> float:
    server = subprocess.Popen(["ip", "netns", "exec", lab.node("b").netns, "iperf3", "-s",
                               "-1", "-B", "10.77.9.2"], stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.3)  # let the server listen
        out = subprocess.run(["ip", "netns", "exec", lab.node("a").netns, "iperf3", "-c",
                              "10.77.9.2", "-t", "3", "-J"], capture_output=True, text=True,
                             check=True).stdout
        return float(json.loads(out)["end"]["sum_received"]["bits_per_second"])
    finally:
        server.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iperf3", action="store_true", help="also measure with iperf3")
    args = ap.parse_args()
    for rate in ("1mbit", "8mbit", "50mbit"):
        lab = deploy(f'rate = "{rate}"')
        try:
            bits = int(float(rate[:-4]) * 1e6)
            bps = tcp_throughput(lab.node("a").netns, lab.node("b").netns, "10.77.9.2",
                                 max(bits // 8 * 2, 200_000))
            line = f"rate {rate:>7}: python TCP {bps / 1e6:6.2f} Mbit/s"
            if args.iperf3:
                line += f", iperf3 {iperf3(lab) / 1e6:6.2f} Mbit/s"
            print(line)
        finally:
            lab.destroy()
    for loss in ("1%", "10%", "30%"):
        lab = deploy(f'loss = "{loss}"')
        try:
            got = udp_delivery(lab.node("a").netns, lab.node("b").netns, "10.77.9.2", 10_000)
            print(f"loss {loss:>4}: {100 - got / 100:5.2f}% of 10000 UDP datagrams lost")
        finally:
            lab.destroy()


if __name__ == "__main__":
    main()
