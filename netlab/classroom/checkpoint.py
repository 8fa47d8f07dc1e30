"""Checkpoints of a deployed lab's live configuration: `netlab save LAB NAME`, `netlab
restore LAB NAME`, `netlab reset LAB`.

What a student changes, per node namespace: interfaces' admin state and MTU, addresses
(not IPv6 link-local ones, which the kernel makes), routes of every table but `local`
(not those the kernel derives from addresses), net.* sysctls, the nft ruleset, and the
files netlab placed in the node (its plan's `files`) when the node runs in a mount
namespace of its own (backends/kernel/machine.py; without one they would be the host's
files, and are left alone); with a private mount namespace too, FRR's running
configuration (`vtysh -c 'show running-config'`), brought back by FRR's own
frr-reload.py (a diff: a neighbour shut down or an interface made passive is undone; the
routes FRR installed are left to it).
Read and written through the backend's exec (`netlab exec`'s way in: the node's
namespaces, and its own mount namespace once nodes have one) with the kernel's own
tools: `ip -j`, `sysctl`, `nft`. Restore changes only what differs.

Checkpoints live in the lab's state directory, so they go with the lab when it is
destroyed; `reset` redeploys the lab from its saved plan (the deployed state, exactly)
and keeps them.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netlab.errors import NetlabError, UsageError
from netlab.names import node_name_problem

if TYPE_CHECKING:
    from netlab.lab import Lab

FORMAT = 1
DIR = "checkpoints"
_SEP = "@@netlab-checkpoint@@"
_READ = "; ".join([
    "ip -j -d link show", f"echo {_SEP}", "ip -j addr show", f"echo {_SEP}",
    "ip -j -4 route show table all", f"echo {_SEP}", "ip -j -6 route show table all",
    f"echo {_SEP}", "sysctl -a -r '^net[.]' 2>/dev/null", f"echo {_SEP}",
    "if [ -S /run/frr/zserv.api ]; then vtysh -c 'show running-config' 2>/dev/null; fi",
    f"echo {_SEP}", "readlink /proc/self/ns/mnt"])
FRR_RELOAD = "/usr/lib/frr/frr-reload.py"  # FRR's own: applies a config as a diff
# Routes the kernel makes, and those routing daemons install (FRR's own restore of its
# configuration brings them back; writing them by hand would fight zebra).
_SKIP_PROTO = {"kernel", "ra", "redirect", "zebra", "bgp", "ospf", "rip", "ripng", "isis",
               "babel", "eigrp", "openfabric", "nhrp", "bfd", "pbr", "sharp"}
_SKIP_TYPE = {"local", "broadcast", "multicast", "anycast", "nat"}


def check_name(name: str) -> str:
    if why := node_name_problem(name):
        raise UsageError(f"checkpoint {why.replace('name', 'name', 1)}")
    return name


def _dir(lab: str) -> Path:
    from netlab.state.layout import lab_dir

    return lab_dir(lab) / DIR


def _exec(lab: Lab, node: str, argv: list[str], stdin: str | None = None) -> str:
    r = lab.exec(node, argv, input=stdin)
    if r.returncode != 0 and stdin is None:
        raise NetlabError(f"lab {lab.name}, node {node}: {' '.join(argv[:3])} failed:"
                          f" {(r.stderr or '').strip()[:200]}")
    return str(r.stdout or "")


def _routes(raw: str) -> list[dict[str, Any]]:
    out = []
    for r in json.loads(raw or "[]"):
        if r.get("table") == "local" or r.get("protocol") in _SKIP_PROTO \
                or r.get("type", "unicast") in _SKIP_TYPE \
                or str(r.get("dst", "")).startswith(("fe80:", "ff00:")):
            continue
        out.append({k: r[k] for k in ("type", "dst", "gateway", "dev", "metric", "table",
                                      "protocol", "scope", "prefsrc", "nexthops")
                    if k in r})
    return out


def read_node(lab: Lab, node: str) -> dict[str, Any]:
    """The node's live configuration, as saved in a checkpoint."""
    parts = _exec(lab, node, ["/bin/sh", "-c", _READ]).split(_SEP + "\n")
    if len(parts) != 7:
        raise NetlabError(f"lab {lab.name}, node {node}: could not read its configuration")
    links, addrs, r4, r6, sysctls, frr, mntns = parts
    nft = lab.nftables(node)  # through netlab's one nftables driver
    state: dict[str, Any] = {"links": [], "addresses": {}}
    for link in json.loads(links or "[]"):
        state["links"].append({"name": link["ifname"], "mtu": link.get("mtu"),
                               "up": "UP" in link.get("flags", [])})
    for link in json.loads(addrs or "[]"):
        state["addresses"][link["ifname"]] = sorted(
            f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])
            if a.get("family") in ("inet", "inet6") and a.get("scope") != "link"
            and "local" in a and link["ifname"] != "lo")
    state["routes4"], state["routes6"] = _routes(r4), _routes(r6)
    state["sysctls"] = dict(line.split(" = ", 1) for line in sysctls.splitlines()
                            if " = " in line)
    state["nft"] = nft
    state["files"] = _read_files(lab, node, mntns.strip())
    # FRR's socket is in the node's own /run only with a private mount namespace.
    state["frr"] = _frr_config(frr) if _private(mntns.strip()) else None
    return state


def _frr_config(text: str) -> str | None:
    """`show running-config` without vtysh's header (frr-reload reads it as config)."""
    if "Current configuration:" not in text:
        return None
    return text.split("Current configuration:", 1)[1].lstrip("\n")


def _private(mntns: str) -> bool:
    """Whether commands in the node run in a mount namespace of their own (nodes as
    machines, backends/kernel/machine.py): only then are its files the node's, not the
    host's, and only then does a checkpoint read or write them."""
    return bool(mntns) and mntns != os.readlink("/proc/self/ns/mnt")


def _read_files(lab: Lab, node: str, mntns: str) -> dict[str, str] | None:
    """The files netlab placed in the node (its plan's `files`), base64, as they are
    now (a missing one: absent); None when the node has no private mount namespace."""
    import base64

    paths = [f.path for f in getattr(lab.plan.node(node), "files", [])]
    if not paths or not _private(mntns):
        return None
    out = {}
    for path in paths:
        r = lab.exec(node, ["cat", "--", path], text=False)
        if r.returncode == 0:
            out[path] = base64.b64encode(r.stdout).decode()
    return out


def save(lab_name: str | None, name: str) -> tuple[str, Path, int]:
    """Record the lab's live configuration as checkpoint `name` (replacing one of that
    name): (lab, file, nodes)."""
    from netlab.errors import require_root
    from netlab.lab import Lab

    require_root("save")
    check_name(name)
    lab = Lab.attach(lab_name)
    data = {"format": FORMAT, "lab": lab.name, "name": name, "saved": time.time(),
            "nodes": {n.name: read_node(lab, n.name) for n in lab.plan.nodes}}
    d = _dir(lab.name)
    d.mkdir(mode=0o700, exist_ok=True)
    path = d / f"{name}.json"
    _write(path, json.dumps(data))
    return lab.name, path, len(data["nodes"])


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600)
    with open(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def checkpoints(lab: str) -> list[str]:
    try:
        return sorted(p[:-5] for p in os.listdir(_dir(lab)) if p.endswith(".json")
                      and not p.startswith("."))
    except FileNotFoundError:
        return []


def _load(lab: str, name: str) -> dict[str, Any]:
    from netlab.state.layout import read_state_file

    text = read_state_file(_dir(lab) / f"{check_name(name)}.json")
    if text is None:
        known = checkpoints(lab)
        raise UsageError(f"lab {lab} has no checkpoint {name!r}" + (
            f" (it has: {', '.join(known)})" if known else
            f"; save one first: `netlab save {lab} {name}`"))
    try:
        data = json.loads(text)
        assert data["format"] == FORMAT and isinstance(data["nodes"], dict)
    except (ValueError, KeyError, AssertionError, TypeError):
        raise NetlabError(f"checkpoint {name!r} of lab {lab} is damaged; save it again"
                          ) from None
    return data


@dataclass
class NodeChanges:
    node: str
    changed: list[str] = field(default_factory=list)  # "2 addresses", "nft ruleset", ...
    failed: list[str] = field(default_factory=list)


def _route_args(r: dict[str, Any]) -> list[str]:
    args = [r["type"]] if r.get("type", "unicast") != "unicast" else []
    args.append(r["dst"])
    for key, word in (("gateway", "via"), ("dev", "dev"), ("metric", "metric"),
                      ("table", "table")):
        if key in r:
            args += [word, str(r[key])]
    return args


def _route_key(r: dict[str, Any]) -> tuple[str, ...]:
    return tuple(_route_args(r))


def _full_route(r: dict[str, Any]) -> list[str]:
    args = _route_args(r)
    for key, word in (("protocol", "proto"), ("scope", "scope"), ("prefsrc", "src")):
        if key in r:
            args += [word, str(r[key])]
    for hop in r.get("nexthops", []):
        args += ["nexthop"] + (["via", hop["gateway"]] if "gateway" in hop else []) + \
            (["dev", hop["dev"]] if "dev" in hop else []) + \
            (["weight", str(hop["weight"])] if "weight" in hop else [])
    return args


_SAFE = re.compile(r"[A-Za-z0-9_.:/-]+")


def _line(args: list[str]) -> str:
    """One `ip -batch` line: every word was read from the kernel, checked all the same
    (a space or newline would start another word or command)."""
    for a in args:
        if not _SAFE.fullmatch(a):
            raise NetlabError(f"refusing to restore the unexpected value {a!r}")
    return " ".join(args)


def restore_node(lab: Lab, node: str, saved: dict[str, Any]) -> NodeChanges:
    now = read_node(lab, node)
    ch = NodeChanges(node)
    if saved["nft"] != now["nft"]:
        try:
            lab.load_nftables(node, saved["nft"])
            ch.changed.append("nft ruleset")
        except NetlabError as e:
            ch.failed.append(f"nft ruleset: {str(e)[:200]}")
    wrong = {k: v for k, v in saved["sysctls"].items() if now["sysctls"].get(k) != v
             and k in now["sysctls"]}
    if wrong:
        text = "".join(f"{k} = {v}\n" for k, v in sorted(wrong.items()))
        r = lab.exec(node, ["sysctl", "-q", "-p", "/dev/stdin"], input=text)
        ch.changed.append(f"{len(wrong)} sysctls")
        if r.returncode != 0:
            ch.failed.append("sysctls: " + (r.stderr or "").strip()[:200])
    missing = sorted(set(saved["sysctls"]) - set(now["sysctls"]))
    if missing:
        ch.failed.append(f"{len(missing)} sysctls of interfaces that are gone"
                         f" ({missing[0]}, ...)")
    _restore_files(lab, node, saved.get("files"), now.get("files"), ch)
    lines: list[str] = []
    old = {link["name"]: link for link in now["links"]}
    for link in saved["links"]:
        o = old.get(link["name"])
        if o is None:
            ch.failed.append(f"interface {link['name']} is gone")
            continue
        if o["mtu"] != link["mtu"] or o["up"] != link["up"]:
            lines.append(_line(["link", "set", "dev", link["name"], "mtu", str(link["mtu"]),
                                "up" if link["up"] else "down"]))
            ch.changed.append(f"interface {link['name']}")
    for ifname, addrs in saved["addresses"].items():
        have = set(now["addresses"].get(ifname, []))
        extra, lack = sorted(have - set(addrs)), sorted(set(addrs) - have)
        lines += [_line(["addr", "del", a, "dev", ifname]) for a in extra]
        lines += [_line(["addr", "add", a, "dev", ifname]) for a in lack]
        if extra or lack:
            ch.changed.append(f"addresses of {ifname}")
    _batch(lab, node, [], lines, ch)
    for family, key in ((4, "routes4"), (6, "routes6")):
        keep = {_route_key(r) for r in saved[key]}
        extra_routes = [r for r in now[key] if _route_key(r) not in keep]
        have_routes = {_route_key(r) for r in now[key]}
        lack_routes = [r for r in saved[key] if _route_key(r) not in have_routes]
        lines = [_line(["route", "del", *_route_args(r)]) for r in extra_routes]
        # Every saved route again (replace: idempotent): deleting an address took its
        # routes with it, also those still there when `now` was read.
        lines += [_line(["route", "replace", *_full_route(r)]) for r in saved[key]]
        if extra_routes or lack_routes:
            ch.changed.append(f"IPv{family} routes")
        _batch(lab, node, [f"-{family}"], lines, ch)
    _restore_frr(lab, node, saved.get("frr"), now.get("frr"), ch)
    return ch


def _restore_files(lab: Lab, node: str, saved: dict[str, str] | None,
                   now: dict[str, str] | None, ch: NodeChanges) -> None:
    import base64

    if saved is None or now is None:  # no private machine then, or now: not touched
        return
    modes = {f.path: f.mode for f in getattr(lab.plan.node(node), "files", [])}
    for path, data in saved.items():
        if now.get(path) == data or path not in modes:
            continue
        r = lab.exec(node, ["/bin/sh", "-c", 'cat > "$1" && chmod "$2" "$1"', "sh", path,
                            format(modes[path], "o")],
                     input=base64.b64decode(data), text=False)
        (ch.changed if r.returncode == 0 else ch.failed).append(f"file {path}")


def _restore_frr(lab: Lab, node: str, saved: str | None, now: str | None,
                 ch: NodeChanges) -> None:
    if saved is None or now is None or saved == now:
        return
    if not os.path.exists(FRR_RELOAD):
        ch.failed.append(f"FRR configuration ({FRR_RELOAD} is not installed)")
        return
    r = lab.exec(node, ["/bin/sh", "-c", 'f=/tmp/.netlab-restore.conf; cat > "$f" &&'
                        ' python3 "$1" --reload "$f"; rc=$?; rm -f "$f"; exit $rc', "sh",
                        FRR_RELOAD], input=saved)
    if r.returncode == 0:
        ch.changed.append("FRR configuration")
    else:
        why = (r.stderr or r.stdout or "").strip().splitlines()
        ch.failed.append("FRR configuration" + (f": {why[-1][:200]}" if why else ""))


def _batch(lab: Lab, node: str, opts: list[str], lines: list[str], ch: NodeChanges) -> None:
    if not lines:
        return
    r = lab.exec(node, ["ip", "-force", *opts, "-batch", "-"], input="\n".join(lines) + "\n")
    if r.returncode != 0:
        err = (r.stderr or "").strip().splitlines()
        ch.failed.append(f"ip: {err[0][:200]}" if err else "ip failed")


def restore(lab_name: str | None, name: str) -> tuple[str, list[NodeChanges]]:
    from netlab.errors import require_root
    from netlab.lab import Lab

    require_root("restore")
    check_name(name)  # before the lab is looked up: a bad name is a bad command line
    lab = Lab.attach(lab_name)
    data = _load(lab.name, name)
    known = {n.name for n in lab.plan.nodes}
    return lab.name, [restore_node(lab, node, state) for node, state in data["nodes"].items()
                      if node in known]


def reset(lab_name: str | None) -> tuple[str, float, list[str]]:
    """Redeploy the lab from its saved plan: the state it was deployed in. Checkpoints
    are kept. (lab, seconds, checkpoints kept)."""
    from netlab.errors import require_root
    from netlab.lab import Lab
    from netlab.state.layout import read_state_file

    require_root("reset")
    t0 = time.perf_counter()
    lab = Lab.attach(lab_name)
    kept = {n: read_state_file(_dir(lab.name) / f"{n}.json") for n in checkpoints(lab.name)}
    Lab.deploy(lab.plan, force=True)
    if kept:
        d = _dir(lab.name)
        d.mkdir(mode=0o700, exist_ok=True)
        for n, text in kept.items():
            if text is not None:
                _write(d / f"{n}.json", text)
    return lab.name, time.perf_counter() - t0, sorted(kept)
