"""A compiled plan -> a containerlab topology (docs/import.md, "Export").

Every node is a `kind: linux` container with `network-mode: none` (no management eth0:
netlab's interfaces are named eth0, eth1..., and the lab's links are its only network);
its addresses, MTUs, MACs, routes and shaping become `exec` lines (`ip address add ...`),
which containerlab runs after it has wired the links, and netlab's importer reads back.
Switches become `kind: bridge` nodes: containerlab's own switch, which the importer reads
back as a switch; containerlab expects the bridge to exist on the host, so the header
says how to make them. Files (FRR configs, the nftables ruleset, the hosts file) become
`binds` of files written under `<output stem>.files/<node>/`, beside the output file.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

from netlab.errors import Problem
from netlab.exporters import Exported
from netlab.plan.model import NodePlan, Plan, ShapingPlan

# The image of a node that runs FRR (it has /etc/frr/frr.conf): FRR's own, whose
# entrypoint starts the daemons /etc/frr/daemons turns on (as netlab's exec services do).
FRR_IMAGE = "quay.io/frrouting/frr:8.4.0"
# Every other node: a small image with iproute2, nftables, tc, tcpdump, python3.
LINUX_IMAGE = "nicolaka/netshoot:v0.13"
NFT_PATH = "/etc/netlab/nftables.nft"
_FRR_DIR = "/usr/lib/frr/"
_SIMPLE = re.compile(r"[A-Za-z0-9_./:=@%+,-]+( [A-Za-z0-9_./:=@%+,-]+)*")


def export(plan: Plan, out: Path, images: dict[str, str],
           optional_files: bool = True) -> Exported:
    """The containerlab topology of `plan`; `images` maps a node name (or "" for all) to
    its image. The hosts file is optional (Docker writes one of its own)."""
    ex = Exported("")
    stem = out.name
    for suffix in (".clab.yml", ".clab.yaml", ".yml", ".yaml"):
        stem = stem.removesuffix(suffix)
    files_dir = f"{stem}.files"
    netns = {n.netns: n.name for n in [*plan.nodes, *plan.switches]}
    switches = {s.name for s in plan.switches}
    shaping: dict[tuple[str, str], ShapingPlan] = {}
    links: list[list[str]] = []
    for i, v in enumerate(plan.veths):
        a, b = netns.get(v.a.netns), netns.get(v.b.netns)
        if a is None or b is None:
            continue  # not a lab wire (an uplink's host end)
        if a in switches and b not in switches:
            a, b, v_a, v_b = b, a, v.b, v.a
        else:
            v_a, v_b = v.a, v.b
        links.append([f"{a}:{v_a.ifname}", f"{b}:{v_b.ifname}"])
        for name, end in ((a, v_a), (b, v_b)):
            if end.shaping is None:
                continue
            if name in switches:
                ex.notes.append(Problem(
                    f"links[{i}]", f"shaping on {name}:{end.ifname} (the switch's side) is"
                    " not exported: that end is a bridge port on containerlab's host",
                    "shape it on the host (tc qdisc ... dev " + end.ifname + "), or in the"
                    " topology on the node's end", "warning"))
            else:
                shaping[(name, end.ifname)] = end.shaping
    nodes: dict[str, dict[str, Any]] = {}
    hosts_bind = None
    if any(n.hosts_file for n in plan.nodes) and optional_files:
        ex.files[f"{files_dir}/hosts"] = (plan.hosts.encode(), 0o644)
        hosts_bind = f"{files_dir}/hosts:/etc/hosts"
    for node in plan.nodes:
        nodes[node.name] = _node(ex, node, files_dir, images, shaping, hosts_bind)
    for s in plan.switches:
        nodes[s.name] = {"kind": "bridge"}
        if s.stp or s.ageing is not None:
            ex.notes.append(Problem(f"switches.{s.name}", "STP and MAC ageing are not"
                                    " exported (they belong to the host's bridge)",
                                    f"set them on the host: ip link set {s.name} type bridge"
                                    " stp_state 1", "warning"))
    if plan.uplink is not None:
        u = plan.uplink
        ex.notes.append(Problem(
            "uplink", f"the uplink of {u.node} ({u.ifname} {u.node_address}, to the host at"
            f" {u.host_address}{', masqueraded' if u.masquerade else ''}) is left out:"
            " containerlab reaches outside through each container's management network,"
            " which the export turns off (network-mode: none)",
            f'remove `network-mode: none` from {u.node} (its eth0 is then Docker\'s, with'
            f' a default route out), or add a link `endpoints: ["{u.node}:{u.ifname}",'
            f' "host:{u.host_ifname}"]` and address the host\'s end yourself', "warning"))
    if plan.expect:
        ex.notes.append(Problem("expect", f"{len(plan.expect)} expectation(s) are not"
                                " exported (containerlab has none); `netlab check` needs"
                                " the netlab topology", "", "warning"))
    ex.text = _dump(plan, nodes, links, ex.notes, switches)
    return ex


def _node(ex: Exported, node: NodePlan, files_dir: str, images: dict[str, str],
          shaping: dict[tuple[str, str], ShapingPlan], hosts_bind: str | None) -> dict[str, Any]:
    frr = any(f.path == "/etc/frr/frr.conf" for f in node.files)
    image = images.get(node.name) or images.get("") or (FRR_IMAGE if frr else LINUX_IMAGE)
    table: dict[str, Any] = {"kind": "linux", "image": image, "network-mode": "none"}
    binds: list[str] = []
    for f in node.files:
        data = _file_data(ex, node, f.path, f.text, f.source)
        if data is None:
            continue
        rel = f"{files_dir}/{node.name}{f.path}"
        ex.files[rel] = (data, f.mode)
        binds.append(f"{rel}:{f.path}")
    if hosts_bind is not None and node.hosts_file:
        binds.append(hosts_bind)
    execs: list[str] = []
    ifnames = {i.name for i in node.interfaces}
    # Docker sets sysctls when it creates the container, before containerlab adds the
    # links: those of an interface of the lab are set by exec lines once it exists.
    sysctls = {}
    for k, v in node.sysctls.items():
        m = re.match(r"net\.ipv[46]\.(conf|neigh)\.([^.]+)\.", k)
        if m and m.group(2) in ifnames:
            execs.append(f"sysctl -w {k}={v}")
        else:
            sysctls[k] = v
    for i in node.interfaces:
        if i.mtu != 1500:
            execs.append(f"ip link set dev {i.name} mtu {i.mtu}")
        if i.mac:
            execs.append(f"ip link set dev {i.name} address {i.mac}")
    for i in node.interfaces:
        execs += [f"ip address add {a} dev {i.name}" for a in i.addresses]
    execs += [f"ip address add {a} dev lo" for a in node.loopback]
    for r in node.routes:
        if r.origin == "uplink":
            continue  # said with the uplink
        six = r.to == "default6" or ":" in r.to or ":" in (r.via or "")
        to = "default" if r.to in ("default", "default6") else r.to
        line = f"ip {'-6 ' if six else ''}route add {to}"
        line += f" via {r.via}" if r.via else ""
        line += f" dev {r.dev}" if r.dev else ""
        execs.append(line)
    for i in node.interfaces:
        if (shape := shaping.get((node.name, i.name))) is not None:
            execs.append(_tc(i.name, shape))
            ex.notes.append(Problem(f"nodes.{node.name}", f"shaping of {node.name}:{i.name}"
                                    f" became a tc exec line (`{execs[-1]}`); the image's"
                                    " kernel must have netem for delay or loss", "",
                                    "warning"))
    if node.nftables:
        rel = f"{files_dir}/{node.name}{NFT_PATH}"
        ex.files[rel] = (node.nftables.encode(), 0o644)
        binds.append(f"{rel}:{NFT_PATH}")
        execs.append(f"nft -f {NFT_PATH}")
    elif node.nat is not None and (node.nat.masquerade or node.nat.forward):
        ex.notes.append(Problem(f"nodes.{node.name}", "its NAT has no nftables ruleset in"
                                " the plan; not exported", "", "warning"))
    for command in node.startup:
        if frr and command.startswith("install -d") and "/run/frr" in command:
            continue  # FRR's image makes /run/frr itself
        execs.append(_command(command))
    dropped = []
    for n, command in enumerate(node.exec):
        if frr and (command.startswith(f"exec {_FRR_DIR}") or _FRR_DIR in command
                    and "zserv.api" in command):
            dropped.append(command.split(_FRR_DIR)[1].split()[0])
            continue  # the FRR image's entrypoint starts the daemons from /etc/frr/daemons
        # containerlab waits for each exec command: a service runs in the background
        log = f"/var/log/netlab-exec{n}.log"
        inner = command if _SIMPLE.fullmatch(command) else f"sh -c {shlex.quote(command)}"
        execs.append("sh -c " + shlex.quote(f"nohup {inner} >{log} 2>&1 &"))
    if binds:
        table["binds"] = binds
    if sysctls:
        table["sysctls"] = sysctls
    if execs:
        table["exec"] = execs
    return table


def _file_data(ex: Exported, node: NodePlan, path: str, text: str | None,
               source: str | None) -> bytes | None:
    if text is not None:
        return text.encode()
    if source is None:
        return b""
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            return f.read()
    except OSError as e:
        ex.notes.append(Problem(f"nodes.{node.name}.files", f"{path}: its source {source}"
                                f" cannot be read ({e.strerror or e}); left out",
                                "export from the topology file, where the source exists",
                                "warning"))
        return None


def _command(command: str) -> str:
    """A netlab startup command (a shell line) as one containerlab exec command, which
    containerlab splits into words and runs without a shell."""
    if _SIMPLE.fullmatch(command):
        return command
    return "sh -c " + shlex.quote(command)


def _tc(ifname: str, s: ShapingPlan) -> str:
    if s.delay_ms is None and s.jitter_ms is None and s.loss_pct is None:
        return f"tc qdisc replace dev {ifname} root tbf rate {s.rate_bit}bit burst 32kbit" \
            " latency 400ms"
    words = ["tc", "qdisc", "replace", "dev", ifname, "root", "netem"]
    if s.delay_ms is not None:
        words += ["delay", f"{s.delay_ms:g}ms"]
        if s.jitter_ms is not None:
            words.append(f"{s.jitter_ms:g}ms")
    if s.loss_pct is not None:
        words += ["loss", f"{s.loss_pct:g}%"]
    if s.rate_bit is not None:
        words += ["rate", f"{s.rate_bit}bit"]
    return " ".join(words)


# --- YAML -------------------------------------------------------------------------------

_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./@+=-]*( [A-Za-z0-9_./@+=-]+)*")
_WORDS = re.compile(r"(y|n|yes|no|on|off|true|false|null)", re.IGNORECASE)
# what YAML reads as a line break or refuses unescaped (PyYAML's printable set)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")


def scalar(v: object) -> str:
    """One YAML scalar: plain when it cannot be read as anything else, else double-quoted
    (JSON's escapes are YAML's; what YAML reads as a break or refuses becomes \\uXXXX)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    text = str(v)
    if _PLAIN.fullmatch(text) and not _WORDS.fullmatch(text):
        return text
    quoted = json.dumps(text, ensure_ascii=False)
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)


def _comment(text: str) -> str:
    return "# " + _UNSAFE.sub("?", text).replace("\n", " ") if text else "#"


def _dump(plan: Plan, nodes: dict[str, dict[str, Any]], links: list[list[str]],
          notes: list[Problem], switches: set[str]) -> str:
    out = [_comment(f"containerlab topology of the netlab lab {plan.lab}, written by"
                    " `netlab export --to containerlab`."),
           _comment("Nodes have no management network (network-mode: none): eth0 is the"
                    " lab's. Addresses and routes are exec lines.")]
    if plan.description:
        out.append(_comment(plan.description))
    if switches:
        out.append(_comment("The switches are kind: bridge: make them on the host first:"))
        out += [_comment(f"  ip link add {s} type bridge && ip link set {s} up")
                for s in sorted(switches)]
    for n in notes:
        out.append(_comment(f"not exported: {n.path}: {n.message}"))
    out += [f"name: {scalar(plan.lab)}", "topology:", "  nodes:"]
    for name, table in nodes.items():
        out.append(f"    {scalar(name)}:")
        for key, value in table.items():
            if isinstance(value, list):
                out.append(f"      {key}:")
                out += [f"        - {scalar(x)}" for x in value]
            elif isinstance(value, dict):
                out.append(f"      {key}:")
                out += [f"        {scalar(k)}: {scalar(x)}" for k, x in value.items()]
            else:
                out.append(f"      {key}: {scalar(value)}")
    out.append("  links:")
    out += [f"    - endpoints: [{scalar(a)}, {scalar(b)}]" for a, b in links]
    return "\n".join(out) + "\n"
