#!/usr/bin/env python3
"""Benchmark the uplink without root (slirp4netns, docs/rootless.md "Internet access")
against root's (a veth to the host's namespace), in the same run. Needs root, iperf3 and
slirp4netns.

    python3 scripts/bench_rootless_uplink.py [--runs 3] [--seconds 3]

The lab: a router `gw` with the uplink and a PC behind it (masqueraded by gw, as the
lab's other nodes are). From the PC:

- rootless (`netlab --rootless`, the code path of an unprivileged user): to servers on the
  host's 127.0.0.1, reached as 10.0.2.2 through slirp4netns;
- root: to the same servers bound to the uplink's host address, in the host's namespace.

Figures: TCP throughput from and to the PC (iperf3, one stream; and from gw itself,
whose uplink has slirp4netns's MTU of 65520 where the PC's link has 1500), TCP round trip (1-byte
request and answer on one connection, median of 2000), TCP connection set-up (connect and
first answer, median of 200), and the deploy time of the lab. Traffic goes only to these
servers (loopback, or the lab's own uplink address).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LAB = """
[lab]
name = "{name}"
[nodes.gw]
kind = "router"
[nodes.pc]
[[links]]
endpoints = ["gw", "pc"]
subnet = "192.168.77.0/30"
[uplink]
node = "gw"
"""

# Run in the PC: round trips on one connection, then connection set-ups; prints JSON.
CLIENT = """
import json, socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
for attempt in range(30):  # the first packets may wait for ARP on a loaded machine
    try:
        s = socket.create_connection((host, port), timeout=5)
        break
    except OSError:
        if attempt == 29: raise
        time.sleep(0.1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
rtt = []
for _ in range(2000):
    t = time.perf_counter(); s.sendall(b"x"); s.recv(1); rtt.append(time.perf_counter() - t)
s.close()
conn = []
for _ in range(200):
    t = time.perf_counter()
    c = socket.create_connection((host, port), timeout=5)
    c.sendall(b"x"); c.recv(1); c.close()
    conn.append(time.perf_counter() - t)
rtt.sort(); conn.sort()
print(json.dumps({"rtt": rtt[len(rtt) // 2], "conn": conn[len(conn) // 2]}))
"""


class Echo:
    """A TCP echo server (one thread per connection) on bind:any port."""

    def __init__(self, bind: str) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((bind, 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(c,), daemon=True).start()

    @staticmethod
    def _echo(c: socket.socket) -> None:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with c, contextlib.suppress(OSError):
            while data := c.recv(65536):
                c.sendall(data)

    def close(self) -> None:
        self.sock.close()


def netlab(mode: list[str], env: dict[str, str], *args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "netlab", *mode, *args], capture_output=True,
                       text=True, env=env, timeout=300)
    if r.returncode != 0:
        raise SystemExit(f"netlab {' '.join(mode + list(args))} failed ({r.returncode}):\n"
                         f"{r.stdout}{r.stderr}")
    return r.stdout


def iperf(mode: list[str], env: dict[str, str], lab: str, bind: str, target: str,
          seconds: float, reverse: bool, node: str = "pc") -> float:
    """Gbit/s of one iperf3 stream from (or, reverse, to) the node."""
    with socket.socket() as s:
        s.bind((bind, 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(["iperf3", "-s", "-1", "-B", bind, "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        out = netlab(mode, env, "exec", "--lab", lab, node, "--", "iperf3", "-c", target,
                     "-p", str(port), "-t", str(seconds), "-J", *(["-R"] if reverse else []))
        end = json.loads(out)["end"]
        return float(end["sum_received"]["bits_per_second"]) / 1e9
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=10)
        if server.poll() is None:
            server.kill()
            server.wait()


def measure(mode: list[str], env: dict[str, str], topo_dir: Path, seconds: float,
            ) -> dict[str, float]:
    from netlab import api

    name = "b" + secrets.token_hex(4)
    topo = topo_dir / f"{name}.toml"
    topo.write_text(LAB.format(name=name))
    t = time.perf_counter()
    netlab(mode, env, "deploy", str(topo))
    deploy = time.perf_counter() - t
    try:
        if mode:  # rootless: the host's loopback, reached through slirp4netns
            from netlab.backends.userns import uplink

            bind, target = "127.0.0.1", uplink.GATEWAY
        else:  # root: the uplink's address in the host's namespace
            up = api.load(topo).plan.uplink
            assert up is not None
            bind = target = up.host_address.split("/")[0]
        echo = Echo(bind)
        try:
            lat = json.loads(netlab(mode, env, "exec", "--lab", name, "pc", "--", "python3",
                                    "-c", CLIENT, target, str(echo.port)))
        finally:
            echo.close()
        up_gbit = iperf(mode, env, name, bind, target, seconds, reverse=False)
        down_gbit = iperf(mode, env, name, bind, target, seconds, reverse=True)
        gw_gbit = iperf(mode, env, name, bind, target, seconds, reverse=False, node="gw")
    finally:
        netlab(mode, env, "destroy", name)
    return {"deploy_s": deploy, "up_gbit": up_gbit, "down_gbit": down_gbit, "gw_gbit": gw_gbit,
            "rtt_us": lat["rtt"] * 1e6, "conn_us": lat["conn"] * 1e6}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (it compares root's uplink with --rootless)")
    for tool in ("iperf3", "slirp4netns"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is needed (apt-get install {tool})")
    results: dict[str, list[dict[str, float]]] = {"root": [], "rootless": []}
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        xdg = Path(tmp) / "xdg"
        xdg.mkdir(mode=0o700)
        env = {**os.environ, "XDG_RUNTIME_DIR": str(xdg)}
        env.pop("NETLAB_RUN_DIR", None)
        for _ in range(args.runs):  # alternately: the machine's load hits both alike
            results["root"].append(measure([], env, Path(tmp), args.seconds))
            results["rootless"].append(measure(["--rootless"], env, Path(tmp), args.seconds))
    rows = [("deploy (s)", "deploy_s", "{:.2f}"),
            ("TCP PC -> host (Gbit/s)", "up_gbit", "{:.2f}"),
            ("TCP host -> PC (Gbit/s)", "down_gbit", "{:.2f}"),
            ("TCP gw -> host (Gbit/s)", "gw_gbit", "{:.2f}"),
            ("TCP round trip (us)", "rtt_us", "{:.0f}"),
            ("TCP connect + answer (us)", "conn_us", "{:.0f}")]
    print(f"median of {args.runs} runs (iperf3 {args.seconds:g} s, one stream)")
    print(f"| {'':28} | root (veth) | rootless (slirp4netns) | rootless / root |")
    print(f"|{'-' * 30}|-------------|------------------------|-----------------|")
    for label, key, fmt in rows:
        a = statistics.median(r[key] for r in results["root"])
        b = statistics.median(r[key] for r in results["rootless"])
        print(f"| {label:28} | {fmt.format(a):>11} | {fmt.format(b):>22} |"
              f" {b / a:>14.2f}x |")


if __name__ == "__main__":
    main()
