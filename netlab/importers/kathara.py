"""A Kathará lab directory -> a netlab topology (see docs/import.md for every mapping).

lab.conf: `dev[N]="domain"` (or "domain/mac") puts the device's ethN on a collision
domain; `dev[image]` is recorded; `dev[sysctl]`, `dev[exec]`, `dev[bridged]` map; `mem`,
`cpus`, `port` and the other Docker-only options are reported. lab.dep orders the nodes.
`dev.startup` is a bash script: its address lines become the topology's addresses and its
service starts start the daemon inside the node. `dev/` is mirrored over the node's root
(the node's `files`), `shared/` is copied into every node's /root/shared.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from netlab.errors import did_you_mean
from netlab.importers.common import (
    Imported,
    Port,
    address_of_line,
    build_segments,
    check_script,
    device_files,
    frr_addresses,
    frr_daemons,
    frr_start,
    lab_name,
    netlab_name,
    rewrite_addresses,
)

MAX_CONF = 1 << 20
_LINE = re.compile(r"^([A-Za-z0-9_.-]+)\[([A-Za-z0-9_]+)\]\s*=\s*(.*)$")
_META = re.compile(r"^(LAB_[A-Z_]+)\s*=\s*(.*)$")
_MAC = re.compile(r"(?:[0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}")
_DOMAIN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
OPTIONS = ("image", "mem", "cpus", "bridged", "ipv6", "port", "num_terms", "sysctl", "env",
           "exec", "shell", "privileged", "ulimit", "entrypoint", "hosts")
_IGNORED = {
    "mem": "a memory limit: namespaces share the host's memory",
    "cpus": "a CPU limit: namespaces share the host's CPUs",
    "port": "a Docker port publication: reach the node from the host through netlab's"
            " uplink instead",
    "num_terms": "terminal windows: use `netlab shell NODE`",
    "shell": "the terminal's shell: `netlab shell NODE` opens one",
    "privileged": "Docker's privileged mode: a netlab node runs as root on the host already",
    "ulimit": "Docker ulimits",
    "entrypoint": "a Docker entrypoint: there is no image to start",
    "hosts": "extra /etc/hosts entries",
}


def is_lab(path: Path) -> bool:
    return path.is_dir() and (path / "lab.conf").is_file()


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return re.sub(r"\s+#.*$", "", text)


def _read(path: Path, imp: Imported, what: str) -> str | None:
    if path.is_symlink() or not path.is_file():
        imp.error(what, f"{path} is not a regular file (netlab reads no symlinks)",
                  "replace it by the file itself")
        return None
    if path.stat().st_size > MAX_CONF:
        imp.error(what, f"{path} is larger than 1 MiB", "check that this is a Kathará lab")
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        imp.error(what, f"cannot read {path}: {e}", "save it as UTF-8 text")
        return None


class _Device:
    def __init__(self, name: str, line: int) -> None:
        self.name = name
        self.line = line
        self.ifaces: dict[int, tuple[str, str | None, int]] = {}  # N -> (domain, mac, line)
        self.options: dict[str, list[tuple[str, int]]] = {}


def read(lab_dir: Path, out_dir: Path | None) -> Imported:
    """Read a Kathará lab directory; every problem of lab.conf, lab.dep and the scripts is
    in the result's notes (nothing raised). `out_dir` is where the topology will live:
    device files are referred to relative to it when inside it, else inlined."""
    imp = Imported(lab_dir, "Kathará")
    text = _read(lab_dir / "lab.conf", imp, "lab.conf")
    if text is None:
        return imp
    devices: dict[str, _Device] = {}
    meta: dict[str, str] = {}
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if m := _META.match(line):
            meta[m.group(1)] = _unquote(m.group(2))
            continue
        m = _LINE.match(line)
        if not m:
            imp.error(f"lab.conf line {no}", f"cannot read `{line[:60]}`",
                      'write device[N]="domain" (or device[option]=value, or'
                      ' LAB_DESCRIPTION="...")')
            continue
        name, key, val = m.group(1), m.group(2), _unquote(m.group(3))
        dev = devices.setdefault(name, _Device(name, no))
        if key.isdigit():
            _interface(dev, int(key), val, no, imp)
        elif key in OPTIONS:
            dev.options.setdefault(key, []).append((val, no))
        else:
            imp.error(f"lab.conf line {no}", f"unknown option {name}[{key}]"
                      f"{did_you_mean(key, OPTIONS)}",
                      "Kathará's options are " + ", ".join(OPTIONS))
    if not devices and not imp.errors:
        imp.error("lab.conf", "no devices (lines such as r1[0]=\"A\")",
                  "check that this is a Kathará lab")
    order = _dependencies(lab_dir, devices, imp)
    _build(imp, lab_dir, out_dir, [devices[d] for d in order], meta)
    return imp


def _interface(dev: _Device, n: int, val: str, no: int, imp: Imported) -> None:
    domain, _, mac = val.partition("/")
    where = f"lab.conf line {no}"
    if n > 64:
        imp.error(where, f"{dev.name}[{n}]: interface eth{n} is far beyond any lab's",
                  "number the interfaces from 0")
        return
    if not _DOMAIN.fullmatch(domain):
        imp.error(where, f"{dev.name}[{n}]: {domain!r} is not a collision domain name",
                  "use letters, digits, '_', '-' or '.', e.g. A")
        return
    if mac and not _MAC.fullmatch(mac):
        imp.error(where, f"{dev.name}[{n}]: {mac!r} is not a MAC address",
                  'write it as "A/02:00:00:00:00:01"')
        return
    if n in dev.ifaces:
        imp.error(where, f"{dev.name}[{n}] is set twice (first on line"
                  f" {dev.ifaces[n][2]})", "keep one of the lines")
        return
    dev.ifaces[n] = (domain, mac.lower() or None, no)


def _dependencies(lab_dir: Path, devices: dict[str, _Device], imp: Imported) -> list[str]:
    """Device names in lab.dep order (a device after those it depends on), else as in
    lab.conf."""
    names = list(devices)
    dep = lab_dir / "lab.dep"
    if not dep.exists():
        return names
    text = _read(dep, imp, "lab.dep")
    if text is None:
        return names
    after: dict[str, list[str]] = {n: [] for n in names}
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        head, sep, tail = line.partition(":")
        deps = tail.split()
        if not sep or not head.strip():
            imp.error(f"lab.dep line {no}", f"cannot read `{line[:60]}`",
                      "write `device: device it waits for ...`")
            continue
        for n in [head.strip(), *deps]:
            if n not in devices:
                imp.error(f"lab.dep line {no}", f"no device {n!r} in lab.conf"
                          f"{did_you_mean(n, devices)}", "use a device of lab.conf")
                break
        else:
            after[head.strip()].extend(deps)
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(n: str, chain: list[str]) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            imp.error("lab.dep", "devices wait for each other in a circle: "
                      + " -> ".join([*chain[chain.index(n):], n]), "break the circle")
            return
        state[n] = 1
        for d in after[n]:
            visit(d, [*chain, n])
        state[n] = 2
        order.append(n)

    for n in names:
        visit(n, [])
    imp.warning("lab.dep", "netlab runs the nodes' startup scripts in file order; the nodes"
                " are written in lab.dep's order", "")
    return order


def _build(imp: Imported, lab_dir: Path, out_dir: Path | None, devices: list[_Device],
           meta: dict[str, str]) -> None:
    imp.lab = {"name": lab_name(lab_dir.resolve().name),
               "description": meta.get("LAB_DESCRIPTION", "").replace("\n", " ")[:300],
               "routing": "none", "hosts_file": False}
    imp.defaults = {"pid": True}
    imp.header = [f"Imported from the Kathará lab {lab_dir} by `netlab import`.",
                  *[f"{k}: {v}" for k, v in meta.items() if k != "LAB_DESCRIPTION"],
                  "Every device forwards (Kathará turns ip_forward on in all of them);"
                  " routes and",
                  "daemons come from the startup scripts and configs, none from netlab"
                  " (routing = none).",
                  "Each startup script is the node's file /root/DEVICE.startup, run by"
                  " bash; lines",
                  "stay where they were, so errors name the original line numbers."]
    taken: set[str] = set()
    node_of: dict[str, str] = {}
    for dev in devices:
        if _skipped(dev, imp):
            continue
        node_of[dev.name] = netlab_name(dev.name, taken)
    shared = device_files(lab_dir / "shared", out_dir, "shared/", imp, "/root/shared") \
        if (lab_dir / "shared").is_dir() else {}
    if shared:
        imp.warning("shared/", "Kathará mounts shared/ at /shared in every device; netlab"
                    " copies its files into each node's /root/shared (a copy per node:"
                    " what one node writes there the others do not see)",
                    "write paths as /root/shared/... in the scripts")
    domains: dict[str, list[Port]] = {}
    where: dict[str, str] = {}
    scripts: dict[str, list[str]] = {}
    for dev in devices:
        if dev.name not in node_of:
            continue
        node = node_of[dev.name]
        ports: dict[str, Port] = {}
        for n, (domain, mac, no) in sorted(dev.ifaces.items()):
            port = Port(node, f"eth{n}", mac)
            ports[port.ifname] = port
            domains.setdefault(domain, []).append(port)
            where.setdefault(domain, f"lab.conf line {no}")
        table, comments = _node(imp, dev, node, lab_dir, out_dir, ports, shared)
        imp.nodes[node] = table
        imp.node_comments[node] = comments
        script = lab_dir / f"{dev.name}.startup"
        if script.exists():
            body = _read(script, imp, f"{dev.name}.startup")
            if body is not None:
                lines = body.splitlines()
                for no, line in enumerate(lines, 1):
                    found = address_of_line(line)
                    if found and found[0] in ports:
                        ports[found[0]].found.append((found[1],
                                                      f"{dev.name}.startup line {no}"))
                scripts[node] = check_script(
                    lines, f"{dev.name}.startup", imp,
                    lambda w, d=dev.name, t=table: frr_start(
                        _daemons(lab_dir / d), t, w, imp))
    for path in sorted(lab_dir.glob("*.startup")):
        if path.stem not in node_of and path.stem not in {d.name for d in devices}:
            imp.warning(path.name, f"no device {path.stem!r} in lab.conf; not used", "")
    build_segments(imp, domains, where, taken | set(node_of.values()))
    held = {(p.ifname, a) for ps in domains.values() for p in ps for a in p.taken}
    for dev in devices:
        node = node_of.get(dev.name)
        if node is None or node not in scripts:
            continue
        mine = {(i, a) for (i, a) in held
                if any(p.node == node and p.ifname == i for ps in domains.values()
                       for p in ps)}
        text = "\n".join(rewrite_addresses(scripts[node], mine)) + "\n"
        target = f"/root/{dev.name}.startup"
        imp.nodes[node].setdefault("files", {})[target] = {"mode": 0o755, "content": text}
        imp.nodes[node]["startup"] = [*imp.nodes[node].get("startup", []),
                                      f"bash {target}"]


def _daemons(device_dir: Path) -> list[str]:
    """The FRR daemons a device turns on: its /etc/frr/daemons, else the host's."""
    for path in (device_dir / "etc" / "frr" / "daemons", Path("/etc/frr/daemons")):
        if path.is_file() and not path.is_symlink():
            try:
                return frr_daemons(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError):
                return []
    return []


def _skipped(dev: _Device, imp: Imported) -> bool:
    image = dev.options.get("image", [("", 0)])[0][0]
    if "wireshark" in image:
        where = f"lab.conf line {dev.options['image'][0][1]}"
        if dev.ifaces:
            imp.error(where, f"{dev.name}: image {image} is a desktop application in a"
                      " container, with interfaces on the lab", "remove the device, and"
                      " capture with `netlab capture` instead")
        else:
            imp.warning(where, f"{dev.name}: image {image} (a packet-capture desktop) is"
                        " left out", "capture with `netlab capture` instead")
        return True
    return False


def _node(imp: Imported, dev: _Device, node: str, lab_dir: Path, out_dir: Path | None,
          ports: dict[str, Port], shared: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    table: dict[str, Any] = {"kind": "router", "gateway": False}
    comments = [f"device {dev.name}" if node != dev.name else ""]
    image = dev.options.get("image", [("kathara/base", 0)])[0][0]
    comments.append(f"image {image}")
    if "quagga" in image:
        imp.error(f"lab.conf line {dev.options['image'][0][1]}", f"{dev.name}: image"
                  f" {image}: Quagga is not in Debian 12", "port the configs to FRR"
                  " (kathara/frr labs run as they are)")
    for key, values in dev.options.items():
        for val, no in values:
            w = f"lab.conf line {no}"
            if key in _IGNORED:
                imp.warning(w, f"{dev.name}[{key}]={val}: not mapped, {_IGNORED[key]}", "")
            elif key == "sysctl":
                k, sep, v = val.partition("=")
                if not sep:
                    imp.error(w, f"{dev.name}[sysctl]={val!r} has no value",
                              'write dev[sysctl]="net.ipv4.ip_forward=1"')
                    continue
                table.setdefault("sysctl", {})[k.strip()] = (
                    int(v) if v.strip().lstrip("-").isdigit() else v.strip())
            elif key == "exec":
                table.setdefault("startup", []).append(val)
            elif key == "env":
                imp.warning(w, f"{dev.name}[env]={val}: netlab nodes have no environment of"
                            " their own; not mapped", "export it in the startup script")
            elif key == "bridged" and val.lower() == "true":
                if imp.uplink is None:
                    imp.uplink = {"node": node}
                    imp.warning(w, f"{dev.name}[bridged]: Kathará adds an interface on a"
                                " Docker bridge with Internet access; netlab connects the"
                                " node to the host instead (interface 'uplink', masqueraded)",
                                "")
                else:
                    imp.error(w, f"{dev.name}[bridged]: netlab connects one node of a lab to"
                              f" the host ({imp.uplink['node']} already)",
                              "keep bridged on one device")
            elif key == "ipv6" and val.lower() == "true":
                # IPv6 on, as Kathará turns it on: netlab turns it off on a node without
                # IPv6 addresses of its own, which would stop SLAAC (radvd labs).
                sysctl = table.setdefault("sysctl", {})
                sysctl["net.ipv6.conf.all.disable_ipv6"] = 0
                sysctl["net.ipv6.conf.default.disable_ipv6"] = 0
    device_dir = lab_dir / dev.name
    files: dict[str, Any] = {}
    if device_dir.is_dir() or device_dir.is_symlink():
        # Listed even where netlab would mirror <topology dir>/<node>/ by itself: the
        # checks that read `files` (a handwritten frr.conf) see them, and a renamed node
        # keeps its device's directory.
        files = device_files(device_dir, out_dir, f"{dev.name}/", imp)
        frr = device_dir / "etc" / "frr" / "frr.conf"
        if frr.is_file() and not frr.is_symlink():
            _frr(imp, dev.name, frr, ports, table)
    files.update(shared)
    if files:
        table["files"] = files
    return table, [c for c in comments if c]


def _frr(imp: Imported, dev: str, frr: Path, ports: dict[str, Port],
         table: dict[str, Any]) -> None:
    try:
        text = frr.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return  # device_files said why
    for no, ifname, addr in frr_addresses(text):
        where = f"{dev}/etc/frr/frr.conf line {no}"
        if ifname == "lo":
            table.setdefault("loopback", []).append(str(addr))
        elif ifname in ports:
            if not any(a == addr for a, _ in ports[ifname].found):
                ports[ifname].found.append((addr, where))
        else:
            imp.warning(where, f"interface {ifname} of {dev} is on no collision domain",
                        f"add {dev}[N]=\"domain\" to lab.conf, or remove the address")
