"""A containerlab topology (*.clab.yml) -> a netlab topology (docs/import.md).

`linux` nodes become nodes (their `image` recorded; an FRR image starts FRR from its bound
/etc/frr files), `bridge`/`ovs-bridge` nodes become switches, `binds` become `files`,
`exec` becomes `startup`, `env` is exported to those commands, `cmd` becomes an `exec`
service; defaults < kinds < groups < node, as containerlab merges them. `mgmt` and the
management interface are left out with a note; vendor kinds (srl, ceos, vr-*, ...) and
Docker-only options are reported per node.
"""

from __future__ import annotations

import os
import re
import shlex
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
)

MAX_YAML = 1 << 20
GENERIC = ("linux",)
BRIDGES = ("bridge", "ovs-bridge")
NODE_KEYS = ("kind", "image", "group", "binds", "exec", "env", "cmd", "labels", "ports",
             "mgmt-ipv4", "mgmt-ipv6", "mgmt_ipv4", "mgmt_ipv6", "startup-config", "license",
             "type", "network-mode", "user", "entrypoint", "sysctls", "cpu", "memory",
             "publish", "env-files", "startup-delay", "enforce-startup-config",
             "suppress-startup-config", "auto-remove", "restart-policy", "devices",
             "cpu-set", "shm-size", "dns", "extras", "wait-for", "healthcheck", "aliases",
             "runtime", "stages", "certificate", "components", "exec-on-host")
_DOCKER_ONLY = ("ports", "publish", "network-mode", "cpu", "memory", "cpu-set", "shm-size",
                "devices", "restart-policy", "auto-remove", "runtime", "user", "entrypoint",
                "healthcheck", "env-files", "startup-delay", "wait-for", "stages",
                "aliases", "extras", "dns", "certificate", "license")
_QUIET = ("labels", "mgmt-ipv4", "mgmt-ipv6", "mgmt_ipv4", "mgmt_ipv6", "group", "kind",
          "image", "binds", "exec", "env", "cmd", "type", "startup-config", "sysctls",
          "enforce-startup-config", "suppress-startup-config", "components")
_IDLE = re.compile(r"^(sleep\s+(infinity|\d+)|tail\s+-f\s+/dev/null|bash|sh|/bin/(ba)?sh)$")


class _Lines:
    """Plain Python values from YAML, remembering the line of each key path."""

    def __init__(self) -> None:
        self.at: dict[tuple[Any, ...], int] = {}

    def plain(self, node: Any, path: tuple[Any, ...] = ()) -> Any:
        import yaml

        self.at[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            out = {}
            for k, v in node.value:
                key = self.plain(k, ("#key",))
                if not isinstance(key, str | int):
                    key = str(key)
                out[key] = self.plain(v, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.plain(v, (*path, i)) for i, v in enumerate(node.value)]
        return yaml.SafeLoader(" ").construct_object(node, deep=True)

    def where(self, *path: Any) -> str:
        while path and path not in self.at:
            path = path[:-1]
        key = ".".join(str(p) for p in path)
        return f"line {self.at.get(path, 1)} ({key})" if key else f"line {self.at.get(path, 1)}"


def read(file: Path, out_dir: Path | None) -> Imported:
    """Read a containerlab topology file; every problem is in the result's notes."""
    imp = Imported(file, "containerlab")
    try:
        import yaml
    except ImportError:
        imp.error("", "reading containerlab files needs PyYAML (a dependency of netlab)",
                  "pip install pyyaml, or reinstall netlab (bash scripts/install.sh)")
        return imp
    if file.is_symlink() or not file.is_file() or file.stat().st_size > MAX_YAML:
        imp.error("", "not a regular file of at most 1 MiB (netlab reads no symlinks)",
                  "give the .clab.yml file itself")
        return imp
    try:
        text = file.read_text(encoding="utf-8")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError) as e:
        imp.error("", f"cannot read it: {e}", "save it as UTF-8 text")
        return imp
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f"line {mark.line + 1}" if mark is not None else ""
        imp.error(line, f"not valid YAML: {getattr(e, 'problem', None) or e}",
                  "fix the YAML syntax (indentation, quotes, ':' after keys)")
        return imp
    lines = _Lines()
    try:
        data = lines.plain(root) if root is not None else None
    except (yaml.YAMLError, ValueError, TypeError) as e:
        imp.error("", f"cannot read a value: {e}", "fix the YAML")
        return imp
    if not isinstance(data, dict) or not isinstance(data.get("topology"), dict):
        imp.error(lines.where(), "no `topology:` table", "a containerlab file has name:"
                  " and topology: (with nodes: and links:)")
        return imp
    _build(imp, file, out_dir, data, lines)
    return imp


def _table(value: Any, imp: Imported, where: str, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        imp.error(where, f"{what} is not a table", f"write {what} as `key: value` lines")
        return {}
    return value


def _build(imp: Imported, file: Path, out_dir: Path | None, data: dict[str, Any],
           lines: _Lines) -> None:
    name = data.get("name")
    if not isinstance(name, str) or not name:
        imp.error(lines.where("name"), "no lab name (name: ...)", "add `name: mylab`")
        name = file.name.split(".")[0]
    if "mgmt" in data:
        imp.warning(lines.where("mgmt"), "mgmt: the management network is left out (netlab"
                    " nodes have no management interface; `netlab shell NODE` reaches"
                    " them)", "")
    topo = data["topology"]
    imp.lab = {"name": lab_name(name), "routing": "none", "hosts_file": False}
    imp.defaults = {"pid": True}
    imp.header = [f"Imported from the containerlab topology {file} by `netlab import`.",
                  "Routes and daemons come from the exec lines and configs, none from"
                  " netlab (routing = none);",
                  "eth0 (containerlab's management interface) is left out."]
    defaults = _table(topo.get("defaults"), imp, lines.where("topology", "defaults"),
                      "topology.defaults")
    kinds = _table(topo.get("kinds"), imp, lines.where("topology", "kinds"), "topology.kinds")
    groups = _table(topo.get("groups"), imp, lines.where("topology", "groups"),
                    "topology.groups")
    nodes = _table(topo.get("nodes"), imp, lines.where("topology", "nodes"), "topology.nodes")
    if not nodes:
        imp.error(lines.where("topology"), "no nodes", "add topology.nodes")
        return
    taken: set[str] = set()
    node_of: dict[str, str] = {}
    bridges: set[str] = set()
    merged: dict[str, dict[str, Any]] = {}
    for raw_name, raw in nodes.items():
        w = lines.where("topology", "nodes", raw_name)
        spec = _table(raw, imp, w, f"topology.nodes.{raw_name}")
        group = _table(groups.get(spec.get("group")), imp, w, "its group") \
            if spec.get("group") is not None else {}
        kind = spec.get("kind", group.get("kind", defaults.get("kind")))
        m = {**defaults, **_table(kinds.get(kind), imp, w, "its kind"), **group, **spec}
        merged[str(raw_name)] = m
        if kind in BRIDGES:
            bridges.add(str(raw_name))
            continue
        if kind not in GENERIC:
            imp.error(w, f"node {raw_name}: kind {kind!r} is a vendor system in a container"
                      " or VM (image " + str(m.get("image", "?")) + "); netlab runs Linux"
                      " namespaces, no network OS images", "replace it by a linux node"
                      " (e.g. FRR), or run this lab with containerlab")
            continue
        node_of[str(raw_name)] = netlab_name(str(raw_name), taken)
    for raw_name, node in node_of.items():
        if out_dir is not None and (out_dir / node).is_dir():
            # netlab mirrors <topology dir>/<node>/ over the node's root (Kathará's way);
            # containerlab keeps bind sources there (router1/frr.conf), not a root tree.
            up = os.path.normpath(file.parent / ".." / f"{imp.lab['name']}.toml")
            imp.error(lines.where("topology", "nodes", raw_name), f"{out_dir / node}/ beside"
                      " the topology would be mirrored over the node's / (netlab's"
                      " convention for <topology dir>/<node>/), putting its files in the"
                      " wrong place", f"write the topology one directory up: netlab import"
                      f" {file} -o {up}")
    domains: dict[str, list[Port]] = {}
    where: dict[str, str] = {}
    ports: dict[tuple[str, str], Port] = {}
    links = topo.get("links") or []
    if not isinstance(links, list):
        imp.error(lines.where("topology", "links"), "links is not a list",
                  '- endpoints: ["a:eth1", "b:eth1"]')
        links = []
    for i, link in enumerate(links):
        w = lines.where("topology", "links", i)
        ends = _endpoints(link, imp, w)
        if ends is None:
            continue
        resolved = []
        for node, ifname in ends:
            if node in bridges:
                resolved.append(("bridge", node, ifname))
            elif node in node_of:
                resolved.append(("node", node, ifname))
            elif node in ("host", "mgmt-net", "macvlan"):
                imp.error(w, f"endpoint {node}:{ifname} connects to the host's network",
                          "netlab connects one node to the host with [uplink] instead")
                break
            elif node in merged:
                break  # a vendor node, already reported
            else:
                imp.error(w, f"endpoint {node}:{ifname}: no node {node!r}"
                          f"{did_you_mean(node, merged)}", "name a node of topology.nodes")
                break
        else:
            kinds_ = [r[0] for r in resolved]
            if kinds_ == ["bridge", "bridge"]:
                imp.error(w, "a link between two bridges", "connect nodes to the bridges")
                continue
            domain = next((r[1] for r in resolved if r[0] == "bridge"), f"link{i}")
            for kind, node, ifname in resolved:
                if kind == "node":
                    if not re.fullmatch(r"[a-z][a-z0-9_-]{0,14}", ifname) or ifname in (
                            "lo", "all", "default"):
                        imp.error(w, f"interface name {ifname!r} of {node}",
                                  "use Linux interface names such as eth1")
                        continue
                    if (node, ifname) in ports:
                        imp.error(w, f"{node}:{ifname} is on two links", "use another"
                                  " interface")
                        continue
                    port = Port(node_of[node], ifname)
                    ports[(node, ifname)] = port
                    domains.setdefault(domain, []).append(port)
            where.setdefault(domain, w)
    for raw_name, node in node_of.items():
        imp.nodes[node] = _node(imp, file, out_dir, raw_name, node, merged[raw_name], lines,
                                {i: p for (n, i), p in ports.items() if n == raw_name})
    build_segments(imp, domains, where, taken, frozenset(bridges))
    held = {(p.node, p.ifname, a) for ps in domains.values() for p in ps for a in p.taken}
    for node, table in imp.nodes.items():
        kept = []
        for command in table.get("startup", []):
            found = address_of_line(command.split("; ")[-1])
            if found and (node, found[0], found[1]) in held:
                continue  # the topology sets it
            kept.append(command)
        if kept:
            table["startup"] = kept
        else:
            table.pop("startup", None)


def _endpoints(link: Any, imp: Imported, where: str) -> list[tuple[str, str]] | None:
    if not isinstance(link, dict) or "endpoints" not in link:
        imp.error(where, "a link without endpoints", '- endpoints: ["a:eth1", "b:eth1"]')
        return None
    ends = link["endpoints"]
    out = []
    if not isinstance(ends, list) or len(ends) != 2:
        imp.error(where, "endpoints must list two ends", 'endpoints: ["a:eth1", "b:eth1"]')
        return None
    for end in ends:
        if isinstance(end, dict) and isinstance(end.get("node"), str):
            out.append((end["node"], str(end.get("interface", ""))))
        elif isinstance(end, str) and end.count(":") == 1:
            node, ifname = end.split(":")
            out.append((node, ifname))
        else:
            imp.error(where, f"endpoint {end!r} is not node:interface",
                      'write "a:eth1"')
            return None
    return out


def _node(imp: Imported, file: Path, out_dir: Path | None, raw: str, node: str,
          m: dict[str, Any], lines: _Lines, ports: dict[str, Port]) -> dict[str, Any]:
    base = ("topology", "nodes", raw)
    table: dict[str, Any] = {"kind": "router", "gateway": False}
    image = str(m.get("image", ""))
    imp.node_comments[node] = [c for c in (f"node {raw}" if raw != node else "",
                                            f"image {image}" if image else "") if c]
    for key in m:
        if key in _DOCKER_ONLY:
            imp.warning(lines.where(*base, key), f"node {raw}: {key} is a Docker option;"
                        " not mapped", "")
        elif key not in _QUIET and key not in NODE_KEYS:
            imp.warning(lines.where(*base, key), f"node {raw}: unknown key {key!r}; left"
                        " out", "")
    files: dict[str, Any] = {}
    host: dict[str, Path] = {}  # path in the node -> the bound file
    for i, bind in enumerate(m.get("binds") or []):
        w = lines.where(*base, "binds", i)
        parts = str(bind).split(":")
        if len(parts) not in (2, 3) or not parts[1].startswith("/"):
            imp.error(w, f"bind {bind!r} is not source:/path/in/node[:ro]",
                      "write binds as router1/frr.conf:/etc/frr/frr.conf")
            continue
        src = (file.parent / parts[0]).resolve() if not parts[0].startswith("/") \
            else Path(parts[0])
        if not _inside(src, file.parent):
            imp.error(w, f"bind source {parts[0]} lies outside the lab's directory"
                      f" ({file.parent})", "keep the lab's files beside its .clab.yml")
            continue
        if not src.exists():
            imp.error(w, f"bind source {parts[0]} does not exist", "create it, or remove"
                      " the bind")
            continue
        got = device_files(file.parent / parts[0], out_dir, w, imp, parts[1])
        for target in got:
            rel = target[len(parts[1].rstrip("/")):].lstrip("/")
            host[target] = src / rel if rel else src
        files.update(got)
    env = m.get("env") or {}
    prefix = "".join(f"export {k}={shlex.quote(str(v))}; " for k, v in env.items()) \
        if isinstance(env, dict) else ""
    startup: list[str] = []
    execs = m.get("exec") or []
    if isinstance(execs, str):
        execs = [execs]
    checked = check_script([str(c) for c in execs], f"{raw} exec", imp)
    for i, command in enumerate(checked):
        found = address_of_line(command)
        if found and found[0] in ports:
            ports[found[0]].found.append((found[1], lines.where(*base, "exec", i)))
        startup.append(prefix + command)
    if "frr" in image.lower():
        conf = _bound(host, "/etc/frr/frr.conf")
        if conf is not None:
            for no, ifname, addr in frr_addresses(conf):
                if ifname == "lo":
                    table.setdefault("loopback", []).append(str(addr))
                elif ifname in ports:
                    ports[ifname].found.append((addr, f"frr.conf line {no}"))
        daemons = _bound(host, "/etc/frr/daemons")
        # The image's entrypoint starts FRR before containerlab runs exec: first here too.
        line = frr_start(frr_daemons(daemons or ""), table, lines.where(*base, "image"), imp)
        if line is not None and not line.startswith("#"):
            startup.insert(0, line.split("  #")[0])
    cmd = m.get("cmd")
    if isinstance(cmd, str) and cmd.strip() and not _IDLE.match(cmd.strip()):
        table.setdefault("exec", []).append(prefix + cmd)
    if startup:
        table["startup"] = startup
    if files:
        table["files"] = files
    if m.get("sysctls") and isinstance(m["sysctls"], dict):
        table["sysctl"] = {str(k): v for k, v in m["sysctls"].items()}
    return table


def _bound(host: dict[str, Path], path: str) -> str | None:
    """The text of the file bound at `path` in the node, if any (device_files checked it)."""
    if path not in host:
        return None
    try:
        return host[path].read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _inside(path: Path, directory: Path) -> bool:
    try:
        path.resolve().relative_to(directory.resolve())
    except ValueError:
        return False
    return True
