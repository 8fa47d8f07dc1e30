"""A snapshot of the host's root network namespace, independent of netlab.

Used to prove that deploy + destroy leaves the host exactly as it was. It records
everything netlab could conceivably touch from the root namespace: links, addresses,
routes and rules (v4 and v6, every table), the nft ruleset, every readable sysctl under
/proc/sys/net of the root namespace, /etc/netns, /run/netlab (or NETLAB_RUN_DIR),
/run/netns, the mount table and `ip netns list`, plus the network namespaces that
processes live in without a /run/netns name (a leftover process keeps its lab's
namespace alive after destroy unpinned it).

Values that change on their own (counters, address lifetimes, conntrack counts) are
dropped. Run as a script to print a snapshot as JSON:
    python tests/support/hostsnap.py
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

# Sysctls the kernel changes by itself.
_VOLATILE_SYSCTLS = re.compile(
    r"(nf_conntrack_count|nf_conntrack_expect_count|/route/flush|stable_secret"
    r"|/neigh/.*/(base_reachable_time|ucast_solicit)_ms$|tcp_fastopen_key)"
)
_VOLATILE_KEYS = {"valid_life_time", "preferred_life_time", "expires", "stats", "stats64",
                  "used", "lastuse"}
_COUNTER = re.compile(r"counter packets \d+ bytes \d+")


def _run(*argv: str) -> str:
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    return r.stdout if r.returncode == 0 else f"<{argv[0]} failed: {r.stderr.strip()}>"


def _json(*argv: str) -> Any:
    out = _run(*argv)
    try:
        return _scrub(json.loads(out or "[]"))
    except json.JSONDecodeError:
        return out


def _scrub(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _scrub(x) for k, x in v.items() if k not in _VOLATILE_KEYS}
    if isinstance(v, list):
        return [_scrub(x) for x in v]
    return v


def _by_name(links: Any) -> Any:
    # Index by name so that a diff names the interface; ifindex order is not meaningful.
    if not isinstance(links, list):
        return links
    return {x.get("ifname", str(i)): x for i, x in enumerate(links)}


def _sysctls(root: str = "/proc/sys/net") -> dict[str, str]:
    out: dict[str, str] = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            path = os.path.join(dirpath, f)
            if _VOLATILE_SYSCTLS.search(path):
                continue
            try:
                with open(path) as fh:
                    out[path[len("/proc/sys/"):].replace("/", ".")] = fh.read().strip()
            except OSError:
                continue  # write-only or not readable here
    return out


def _tree(root: str | Path) -> dict[str, str] | None:
    """Every file and directory under root, with file contents; None if root is absent."""
    root = Path(root)
    if not root.exists():
        return None
    out: dict[str, str] = {}
    for dirpath, dirs, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for d in dirs:
            out[os.path.join(rel, d) + "/"] = ""
        for f in files:
            p = Path(dirpath) / f
            try:
                out[os.path.join(rel, f)] = p.read_bytes()[:4096].decode("utf-8", "replace")
            except OSError as e:  # nsfs files under /run/netns cannot be read
                out[os.path.join(rel, f)] = f"<{e.strerror}>"
    return out


def _mounts() -> list[str]:
    # Kept whole, mount ids included: they are stable for surviving mounts, and a changed
    # id means a mount was replaced, which is worth seeing.
    return sorted(Path("/proc/self/mountinfo").read_text().splitlines())


def _process_netns() -> list[str]:
    """Network namespaces that some process lives in although no /run/netns name pins
    them: what a leftover process of a destroyed lab looks like. (Namespaces of labs that
    are up are pinned, and show under ip_netns instead.)"""
    pinned: set[int] = set()
    with contextlib.suppress(OSError):
        for name in os.listdir("/run/netns"):
            with contextlib.suppress(OSError):
                pinned.add(os.stat(os.path.join("/run/netns", name)).st_ino)
    seen: set[str] = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.stat(f"/proc/{pid}/ns/net").st_ino not in pinned:
                    seen.add(os.readlink(f"/proc/{pid}/ns/net"))
            except OSError:
                continue  # exited, or a kernel thread
    return sorted(seen)


def _nft_tables() -> dict[str, list[str]]:
    """The nft ruleset, table by table ("table ip netlab-x" -> its lines): a change then
    names its table, so one lab's tables can be told from another's (another run's lab
    coming or going meanwhile is not a leak of ours)."""
    out: dict[str, list[str]] = {}
    table = ""
    for line in _COUNTER.sub("counter", _run("nft", "list", "ruleset")).splitlines():
        if line.startswith("table "):
            table = line.removesuffix("{").strip()
        out.setdefault(table, []).append(line)
    return out


def snapshot() -> dict[str, Any]:
    """The host's root-namespace state, as plain data (compare with ==)."""
    run_dir = os.environ.get("NETLAB_RUN_DIR", "/run/netlab")
    return {
        "links": _by_name(_json("ip", "-j", "-d", "link", "show")),
        "addresses": _by_name(_json("ip", "-j", "addr", "show")),
        "routes4": _json("ip", "-j", "-4", "route", "show", "table", "all"),
        "routes6": _json("ip", "-j", "-6", "route", "show", "table", "all"),
        "rules4": _json("ip", "-j", "-4", "rule", "show"),
        "rules6": _json("ip", "-j", "-6", "rule", "show"),
        "nft": _nft_tables(),
        "sysctls": _sysctls(),
        "etc_netns": _tree("/etc/netns"),
        "run_netlab": _tree(run_dir),
        "run_netns": _tree("/run/netns"),
        "mounts": _mounts(),
        "ip_netns": sorted(_run("ip", "netns", "list").splitlines()),
        "process_netns": _process_netns(),
    }


def settings() -> dict[str, str]:
    """The host settings netlab may change and must restore
    (netlab/backends/kernel/hostsettings.py): ip_forward, IPv4 forwarding of all, default
    and each interface, all.accept_redirects
    (the kernel resets the last three whenever ip_forward changes), and the neighbour
    gc_thresh1/2/3 of IPv4 and IPv6. snapshot()["sysctls"] holds them too, among all the
    others; this is the short list, for tests that compare only these."""
    out: dict[str, str] = {}
    keys = ["ipv4/ip_forward", "ipv4/conf/all/accept_redirects"]
    keys += [f"ipv4/conf/{n}/forwarding" for n in sorted(os.listdir("/proc/sys/net/ipv4/conf"))]
    keys += [f"{fam}/neigh/default/gc_thresh{k}" for fam in ("ipv4", "ipv6") for k in (1, 2, 3)]
    for key in keys:
        with contextlib.suppress(OSError):
            out["net." + key.replace("/", ".")] = Path("/proc/sys/net", key).read_text().strip()
    return out


def settings_diff(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """What changed between two settings(): values of keys present in both (interfaces
    that came or went meanwhile, e.g. another lab's, are not a change of the host's)."""
    return [f"{k}: {before[k]} -> {after[k]}" for k in sorted(set(before) & set(after))
            if before[k] != after[k]]


def diff(before: dict[str, Any], after: dict[str, Any], only: str | None = None,
         ignore: str | None = None) -> str:
    """A readable list of what changed between two snapshots ('' if nothing); with
    `only` (a regex), just the changes that mention it (e.g. one lab's names, when other
    labs may come and go meanwhile); with `ignore`, without those that mention it."""
    lines: list[str] = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                if a.get(k) != b.get(k):
                    lines.append(f"{key}[{k}]: {a.get(k)!r} -> {b.get(k)!r}")
        elif isinstance(a, list) and isinstance(b, list):
            gone = [x for x in a if x not in b]
            new = [x for x in b if x not in a]
            lines += [f"{key}: - {x!r}" for x in gone] + [f"{key}: + {x!r}" for x in new]
            if not gone and not new:
                lines.append(f"{key}: order changed")
        else:
            lines.append(f"{key}: {a!r} -> {b!r}")
    if only is not None:
        lines = [line for line in lines if re.search(only, line)]
    if ignore is not None:
        lines = [line for line in lines if not re.search(ignore, line)]
    return "\n".join(lines)


def other_labs(snapshots: list[dict[str, Any]], mine: str) -> set[str]:
    """Names of netlab-looking labs other than `mine` seen in any of the snapshots (their
    namespaces' prefixes, state directories and locks, uplink links and nft tables): labs
    someone else (another run of the suite, a developer) deployed meanwhile."""
    out: set[str] = set()
    for snap in snapshots:
        for ns in snap.get("ip_netns", []):
            name = ns.split()[0]
            if "-" in name and not name.startswith(mine + "-"):
                out.add(name.split("-")[0])
        for path in (snap.get("run_netlab") or {}):
            top = path.removeprefix("./").split("/")[0].lstrip(".").removesuffix(".lock")
            if top and top != mine:
                out.add(top)
        # A lab's host side (an uplink's veth, its nft table) outlives or precedes its
        # namespaces for a moment, and a lab in another run directory has no state here.
        for link in snap.get("links", {}):
            if link.startswith("nl-") and link[3:] != mine[:12]:
                out.add(link[3:])
        for table in snap.get("nft", {}):
            # "table ip netlab-<lab>", or a test's own "table ip <lab>-guard" (hand-made)
            name = table.split()[-1] if table else ""
            lab = name.removeprefix("netlab-") if name.startswith("netlab-") else \
                name.split("-")[0] if "-" in name else ""
            if lab and lab != mine:
                out.add(lab)
    return out


if __name__ == "__main__":
    json.dump(snapshot(), sys.stdout, indent=1, sort_keys=True)
    print()
