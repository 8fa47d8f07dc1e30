"""Independent witnesses inside a lab's namespaces: the kernel's own `ip`, `ping` and
`nft` through `ip netns exec` (never netlab's code), and waiting for a fresh lab's links."""

from __future__ import annotations

import json
import subprocess
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from netlab.plan.model import Plan


def netns_exec(netns: str | None, *argv: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run argv inside netns (None: on the host), no shell; output captured as text."""
    where = ["ip", "netns", "exec", netns] if netns is not None else []
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    return subprocess.run([*where, *argv], **kw)


def kernel_ping_run(netns: str | None, address: str, timeout: int = 1,
                    ) -> subprocess.CompletedProcess[str]:
    """One echo request from the kernel's own ping (iputils) in `netns` (None: the host):
    the independent witness of reachability. Its output holds the reply's ttl=."""
    fam = "-6" if ":" in address else "-4"
    return netns_exec(netns, "ping", fam, "-n", "-c1", f"-W{timeout}", address, timeout=30)


def kernel_ping(netns: str | None, address: str, timeout: int = 1) -> bool:
    """Whether the kernel's own ping from `netns` gets an answer from `address`."""
    return kernel_ping_run(netns, address, timeout).returncode == 0


def ping_ttl(netns: str, address: str) -> int | None:
    """The TTL of the kernel's ping reply (None: no reply)."""
    for word in kernel_ping_run(netns, address).stdout.split():
        if word.startswith("ttl="):
            return int(word[4:])
    return None


def wait_links_up(plan: Plan, seconds: float = 10.0) -> None:
    """Until every interface of the lab is operationally up. The kernel turns a new veth's
    carrier on a few tens of milliseconds after deploy returns; until then it drops what is
    sent (so a first ARP request is lost, and the next one goes out a second later)."""
    deadline = time.monotonic() + seconds
    for netns in plan.namespaces:
        while time.monotonic() < deadline:
            out = subprocess.run(["ip", "-n", netns, "-j", "link", "show"],
                                 capture_output=True, text=True).stdout
            links = [x for x in json.loads(out or "[]") if x.get("ifname") != "lo"]
            if all(x.get("operstate") == "UP" for x in links):
                break
            time.sleep(0.01)


def mac(netns: str, ifname: str) -> str:
    out = subprocess.run(["ip", "-n", netns, "-j", "link", "show", ifname],
                         capture_output=True, text=True, check=True).stdout
    return str(json.loads(out)[0]["address"])


def pin_neighbours(plan: Plan, a: str, b: str) -> None:
    """Permanent ARP entries between two directly wired nodes (eth0 each): the kernel
    re-resolves a lossy link's neighbours now and then, and a request waiting for ARP
    takes a second or more, for netlab's ping and the kernel's alike."""
    ends = {n: (plan.node(n).netns, mac(plan.node(n).netns, "eth0"),
                plan.node(n).primary["4"]) for n in (a, b)}
    for me, peer in ((a, b), (b, a)):
        netns = ends[me][0]
        subprocess.run(["ip", "-n", netns, "neigh", "replace", ends[peer][2], "lladdr",
                        ends[peer][1], "dev", "eth0", "nud", "permanent"], check=True)
