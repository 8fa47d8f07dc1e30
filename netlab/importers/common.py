"""What the Kathará and containerlab importers share: the imported lab (a netlab topology
as plain tables, before it is written), the problems found on the way, and the rules that
turn a container's habits into a namespace's: addresses set by shell lines or frr.conf
become the topology's addresses, Debian service starts become commands that start the
daemon inside the node, binaries the host lacks are named with their Debian package."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shlex
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from netlab import names
from netlab.errors import Problem

Iface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

MAX_FILE = 1 << 20  # a device-dir file larger than this is surely not configuration
MAX_FILES = 2000  # files of one device dir; a real lab has a handful


@dataclass
class Note:
    """One thing the importer says about the input: where (file and line or key), what,
    and the fix. Errors stop the import (input it cannot read, or a lab that cannot run
    here); warnings say what was left out or changed."""

    where: str  # "lab.conf line 12", "r1.startup line 3", "topology.nodes.srl.kind"
    message: str
    fix: str = ""
    severity: Literal["error", "warning"] = "error"

    def problem(self) -> Problem:
        return Problem(self.where, self.message, self.fix, self.severity)


@dataclass
class Imported:
    """A lab read from another tool, as the tables of a netlab topology."""

    source: Path  # the Kathará lab directory or the .clab.yml file
    tool: str  # "Kathará" or "containerlab"
    lab: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    node_comments: dict[str, list[str]] = field(default_factory=dict)
    switches: dict[str, dict[str, Any]] = field(default_factory=dict)
    switch_comments: dict[str, list[str]] = field(default_factory=dict)
    links: list[dict[str, Any]] = field(default_factory=list)
    uplink: dict[str, Any] | None = None
    header: list[str] = field(default_factory=list)  # comment lines at the top
    notes: list[Note] = field(default_factory=list)

    def error(self, where: str, message: str, fix: str = "") -> None:
        self.notes.append(Note(where, message, fix, "error"))

    def warning(self, where: str, message: str, fix: str = "") -> None:
        self.notes.append(Note(where, message, fix, "warning"))

    @property
    def errors(self) -> list[Note]:
        return [n for n in self.notes if n.severity == "error"]


# --- names ---------------------------------------------------------------------------

def netlab_name(name: str, taken: set[str], limit: int = names.NODE_NAME_MAX) -> str:
    """A valid netlab node/switch name for another tool's name: lowercase, '_' and '.'
    become '-', cut to `limit`; a clash with a name in `taken` gets a number."""
    base = re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-") or "n"
    if not base[0].isalpha():
        base = "n" + base
    base = re.sub(r"-+", "-", base)[:limit].rstrip("-")
    out, i = base, 2
    while out in taken:
        suffix = f"-{i}"
        out = base[: limit - len(suffix)].rstrip("-") + suffix
        i += 1
    taken.add(out)
    return out


def lab_name(text: str) -> str:
    """A lab name from a directory or lab name: 'kathara-lab_ospf_frr-multiarea' ->
    'ospf-frr-mul' (the tool's own prefix dropped)."""
    text = re.sub(r"^(kathara-lab|kathara|clab)[-_]", "", text.lower())
    return netlab_name(text, set(), names.LAB_NAME_MAX)


# --- addresses in shell lines and frr.conf ----------------------------------------------

_IP_ADDR = re.compile(
    r"^\s*ip\s+(?:-[46]\s+)?a(?:d(?:d(?:r(?:e(?:s(?:s)?)?)?)?)?)?\s+(?:add|a)\s+(\S+)"
    r"(?:\s+(?:brd|broadcast)\s+\S+)?\s+dev\s+(\S+)\s*;?\s*$")
_IFCONFIG = re.compile(
    r"^\s*ifconfig\s+(\S+)\s+(?:inet\s+)?([0-9.]+(?:/\d+)?)(?:\s+netmask\s+([0-9.]+))?"
    r"(?:\s+(?:broadcast|brd)\s+[0-9.]+)?(?:\s+up)?\s*;?\s*$")
_IFCONFIG6 = re.compile(r"^\s*ifconfig\s+(\S+)\s+(?:inet6\s+)?add\s+([0-9a-fA-F:]+/\d+)"
                        r"(?:\s+up)?\s*;?\s*$")


def address_of_line(line: str) -> tuple[str, Iface] | None:
    """(ifname, address) set by a shell line such as `ip address add 10.0.0.1/24 dev
    eth0` or `ifconfig eth0 10.0.0.1 netmask 255.255.255.0 up`, else None. An address
    without a prefix length is left to the script (the kernel would make it a /32)."""
    try:
        if m := _IP_ADDR.match(line):
            if "/" not in m.group(1):
                return None
            return m.group(2), ipaddress.ip_interface(m.group(1))
        if m := _IFCONFIG.match(line):
            addr = m.group(2)
            if "/" not in addr:
                if m.group(3) is None:
                    return None  # classful default: leave it to ifconfig
                addr += "/" + m.group(3)
            return m.group(1), ipaddress.ip_interface(addr)
        if m := _IFCONFIG6.match(line):
            return m.group(1), ipaddress.ip_interface(m.group(2))
    except ValueError:
        return None
    return None


def frr_addresses(text: str) -> list[tuple[int, str, Iface]]:
    """(line, ifname, address) of every `ip address`/`ipv6 address` under an `interface`
    block of an FRR configuration (zebra adds them itself; the topology must know them)."""
    out: list[tuple[int, str, Iface]] = []
    ifname: str | None = None
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not raw[:1].isspace() and line and not line.startswith("!"):
            m = re.match(r"interface\s+(\S+)", line)
            ifname = m.group(1) if m else None
            continue
        m = re.match(r"ipv?6?\s+address\s+(\S+)$", line)
        if ifname and m:
            with contextlib.suppress(ValueError):
                out.append((no, ifname, ipaddress.ip_interface(m.group(1))))
    return out


# --- services ----------------------------------------------------------------------------

_SERVICE = re.compile(
    r"^(\s*)(?:systemctl\s+(?:start|restart)\s+([\w@.-]+?)(?:\.service)?"
    r"|service\s+([\w.-]+)\s+(?:start|restart)"
    r"|/etc/init\.d/([\w.-]+)\s+(?:start|restart))\s*;?\s*$")

FRRINIT = "/usr/lib/frr/frrinit.sh"

# service -> (command that starts it without systemd, binary it needs, Debian package)
_DAEMONS: dict[str, tuple[str, str, str]] = {
    "frr": (f"{FRRINIT} start", FRRINIT, "frr"),
    "apache2": ("apachectl start", "apachectl", "apache2"),
    "bind9": ("named -u bind", "named", "bind9"),
    "named": ("named -u bind", "named", "bind9"),
    "dnsmasq": ("dnsmasq", "dnsmasq", "dnsmasq-base"),
    "radvd": ("radvd", "radvd", "radvd"),
    "nginx": ("nginx", "nginx", "nginx"),
    "ssh": ("/usr/sbin/sshd", "/usr/sbin/sshd", "openssh-server"),
    "isc-dhcp-server": ("dhcpd", "dhcpd", "isc-dhcp-server"),
    "isc-dhcp-relay": ("dhcrelay", "dhcrelay", "isc-dhcp-relay"),
    "vsftpd": ("vsftpd", "vsftpd", "vsftpd"),
    "openvpn": ("openvpn", "openvpn", "openvpn"),
    "squid": ("squid", "squid", "squid"),
    "quagga": ("", "", "quagga (not in Debian 12: port the configs to FRR)"),
}

_ALIASES = {"bind9": "named", "named": "bind9"}  # Debian renamed bind9's init script

# binary -> Debian package, for the message about a command the host lacks
PACKAGES = {
    "iptables": "iptables", "iptables-legacy": "iptables", "ip6tables": "iptables",
    "iptables-save": "iptables", "iptables-restore": "iptables", "ebtables": "ebtables",
    "brctl": "bridge-utils", "ifconfig": "net-tools", "route": "net-tools",
    "arp": "net-tools", "netstat": "net-tools", "arping": "iputils-arping",
    "traceroute": "traceroute", "tcpdump": "tcpdump", "curl": "curl", "wget": "wget",
    "nc": "netcat-openbsd", "netcat": "netcat-openbsd", "dig": "bind9-dnsutils",
    "nslookup": "bind9-dnsutils", "host": "bind9-host", "named": "bind9",
    "apachectl": "apache2", "apache2": "apache2", "vtysh": "frr", "radvd": "radvd",
    "dnsmasq": "dnsmasq-base", "dhclient": "isc-dhcp-client", "dhcpd": "isc-dhcp-server",
    "dhcrelay": "isc-dhcp-relay", "python3": "python3", "python": "python-is-python3",
    "iperf3": "iperf3", "iperf": "iperf", "socat": "socat", "ethtool": "ethtool",
    "bridge": "iproute2", "ip": "iproute2", "tc": "iproute2", "ss": "iproute2",
    "nft": "nftables", "conntrack": "conntrack", "openvpn": "openvpn", "nginx": "nginx",
    "lighttpd": "lighttpd", "ovs-vsctl": "openvswitch-switch", "wg": "wireguard-tools",
    "ping": "iputils-ping", "mtr": "mtr-tiny", "hping3": "hping3", "scapy": "python3-scapy",
}

# `ip link add ... type X` needs kernel support this machine may lack
_LINK_TYPE = re.compile(r"\bip\s+(?:-\S+\s+)*l(?:ink)?\s+add\b.*\btype\s+(\w+)")
MISSING_KERNEL = {"vlan": "802.1Q VLAN (CONFIG_VLAN_8021Q)", "dummy": "dummy (CONFIG_DUMMY)",
                  "vrf": "VRF (CONFIG_NET_VRF)", "bond": "bonding (CONFIG_BONDING)",
                  "gre": "GRE (CONFIG_NET_IPGRE)", "gretap": "GRE (CONFIG_NET_IPGRE)",
                  "vxlan": "VXLAN (CONFIG_VXLAN)", "macvlan": "macvlan (CONFIG_MACVLAN)",
                  "ipip": "IPIP (CONFIG_NET_IPIP)"}
_SHELL_WORDS = frozenset({
    "if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case",
    "esac", "function", "{", "}", "!", "[", "[[", "test", "echo", "printf", "export",
    "cd", "set", "exit", "true", "false", ":", ".", "source", "sleep", "cat", "read",
    "local", "return", "eval", "exec", "wait", "shift", "unset", "trap", "ulimit", "umask",
})


def _kernel_has(kind: str) -> bool:
    """Whether this kernel can make a link of that type (sysfs/proc knowledge, no root)."""
    from netlab.linux import kconfig

    option = MISSING_KERNEL[kind].split("(")[1].rstrip(")")
    return kconfig.config_option(option) is not False and (
        kconfig.config_option(option) is True or Path(f"/sys/module/{kind}").exists())


def have(binary: str) -> bool:
    return os.path.isfile(binary) and os.access(binary, os.X_OK) if "/" in binary \
        else shutil.which(binary, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") \
        is not None


def service_command(service: str) -> tuple[str | None, str | None]:
    """How a Debian service starts inside a node, where systemd does not run: (command,
    None), or (None, why not) when the host lacks it. The node has its own /etc, /var and
    /run, so the init script (or the daemon itself) runs with its Debian default paths,
    daemonised, as `service x start` would in the container."""
    known = _DAEMONS.get(service)
    if service == "frr" or (known and known[0] == ""):
        assert known is not None
        if not known[1] or not have(known[1]):
            return None, f"{service} is not installed here (Debian package {known[2]})"
        return known[0], None
    for script in (service, _ALIASES.get(service, service)):
        if have(f"/etc/init.d/{script}"):
            return f"/etc/init.d/{script} start", None
    if known:
        if have(known[1]):
            return known[0], None
        return None, f"{service} is not installed here (Debian package {known[2]})"
    return None, (f"service {service!r} has no init script here (/etc/init.d/{service})"
                  " and netlab does not know its daemon")


@dataclass
class ScriptLine:
    no: int
    text: str


FRR_DAEMONS = ("bgpd", "ospfd", "ospf6d", "ripd", "ripngd", "isisd", "pimd", "pim6d", "ldpd",
               "nhrpd", "eigrpd", "babeld", "sharpd", "pbrd", "bfdd", "fabricd", "vrrpd",
               "pathd")
_PROTOCOL = {"ospfd": "ospf", "ripd": "rip", "bgpd": "bgp"}


def frr_daemons(text: str) -> list[str]:
    """The daemons an /etc/frr/daemons file turns on (`ospfd=yes`), in FRR's order."""
    on = set()
    for line in text.splitlines():
        m = re.match(r"\s*(\w+)\s*=\s*\"?(yes|no)\"?\s*(#.*)?$", line)
        if m and m.group(2) == "yes":
            on.add(m.group(1))
    return [d for d in FRR_DAEMONS if d in on]


def frr_start(daemons: list[str], node: dict[str, Any], where: str,
              imp: Imported) -> str | None:
    """Start FRR in a node whose own configs (frr.conf, daemons) come from the lab. The
    node's `routing` names its first protocol among OSPF, RIP and BGP: netlab's FRR
    support then runs zebra, that daemon and staticd on the node's frr.conf (it writes no
    config of its own over the lab's). Every other daemon the lab turns on (a second
    protocol, isisd, ldpd ...) becomes an `exec` service with the same arguments, started
    once zebra listens. Returns the line that replaces the service start (one line: errors
    keep the original line numbers), or None when FRR is missing here."""
    from netlab.compile.frr import plans

    if not have(f"{plans.FRR_DIR}/zebra"):
        imp.error(where, "FRR is not installed here (Debian package frr)",
                  "apt-get install frr")
        return None
    main = next((d for d in daemons if d in _PROTOCOL), None)
    others = [d for d in daemons if d != main]
    missing = [d for d in others if not have(f"{plans.FRR_DIR}/{d}")]
    if missing:
        imp.error(where, f"FRR here has no {', '.join(missing)} (/usr/lib/frr)",
                  "install a newer frr package, or turn them off in /etc/frr/daemons")
    services = [f"{plans.WAIT_ZEBRA}{plans.FRR_DIR}/{d} {plans.DAEMON_ARGS}"
                for d in others if d not in missing]
    if main is None:
        services = [f"{plans.FRR_DIR}/zebra {plans.ZEBRA_ARGS}",
                    f"{plans.WAIT_ZEBRA}{plans.FRR_DIR}/staticd {plans.DAEMON_ARGS}", *services]
    else:
        node["routing"] = _PROTOCOL[main]
    if services:
        node["exec"] = [*services, *node.get("exec", [])]
    started = ", ".join(["zebra", *([main] if main else []), "staticd", *others])
    how = f'routing = "{node["routing"]}"' if main else "exec"
    if main is None:
        return (f"{plans.RUN_DIR_COMMAND}  # netlab: {started} run"
                f" as this node's services ({how})")
    return f"# netlab: {started} run as this node's services ({how})"


def check_script(lines: list[str], file: str, imp: Imported,
                 frr: Any = None) -> list[str]:
    """A startup script with its Debian service starts rewritten (one line for one line,
    so line numbers in errors stay those of the original) and every command the host
    lacks, and every link type its kernel lacks, reported with the line. `frr`, when
    given, is called with the line's place and returns the line that starts FRR."""
    out = []
    for no, line in enumerate(lines, 1):
        m = _SERVICE.match(line)
        if m:
            service = m.group(2) or m.group(3) or m.group(4)
            if service == "frr" and frr is not None:
                replaced = frr(f"{file} line {no}")
                out.append(line if replaced is None
                           else f"{m.group(1)}{replaced}: was `{line.strip()}`")
                continue
            command, why = service_command(service)
            if command is None:
                imp.error(f"{file} line {no}", f"`{line.strip()}`: {why}",
                          f"install it (apt-get install {_package(service)}), or remove the"
                          " line")
                out.append(line)
            else:
                # why: systemd does not run in a node; the daemon starts as its init
                # script would start it, with the node's own /etc, /var and /run
                out.append(f"{m.group(1)}{command}  # netlab: was `{line.strip()}`")
            continue
        out.append(line)
        _check_commands(line, f"{file} line {no}", imp)
    return out


def _package(service: str) -> str:
    known = _DAEMONS.get(service)
    return known[2].split(" ")[0] if known else service


def _check_commands(line: str, where: str, imp: Imported) -> None:
    m = _LINK_TYPE.search(line)
    if m and m.group(1) in MISSING_KERNEL and not _kernel_has(m.group(1)):
        imp.error(where, f"`ip link add ... type {m.group(1)}`: this machine's kernel has no"
                  f" {MISSING_KERNEL[m.group(1)]}", "run the lab on a kernel with it, or"
                  " change the lab to avoid it")
    for part in re.split(r"&&|\|\||[;|&]", line.split("#", 1)[0] if "#" in line else line):
        try:
            words = shlex.split(part)
        except ValueError:
            return  # an unfinished quote: a multi-line construct, left to the shell
        while words and re.fullmatch(r"\w+=.*", words[0]):
            words.pop(0)  # VAR=value cmd
        if not words or words[0] in _SHELL_WORDS or not re.fullmatch(r"[\w./+-]+",
                                                                       words[0]):
            continue
        command = words[0]
        if command in ("sudo", "nohup", "timeout") and len(words) > 1:
            command = words[1]
        if command.startswith(("/shared", "/hostlab", "./", "/root", "/etc", "/tmp")):
            continue  # the lab's own scripts
        if not have(command):
            package = PACKAGES.get(os.path.basename(command))
            imp.error(where, f"`{command}` is not installed here"
                      + (f" (Debian package {package})" if package else ""),
                      f"apt-get install {package}" if package
                      else "install it, or remove the line")


# --- device directories --------------------------------------------------------------------

def device_files(root: Path, out_dir: Path | None, where: str, imp: Imported,
                 prefix: str = "/") -> dict[str, Any]:
    """The files under `root` (a device directory mirrored over the node's root, or a
    bind's source) as node `files` entries: path in the node -> {source = path relative
    to the topology's directory} when that stays inside it, else the text itself. Refused,
    each with its path: symlinks, special files, paths outside the node's private
    directories, unreadable or binary text that cannot be inlined."""
    from netlab.compile.machines import check_path

    files: dict[str, Any] = {}
    entries: list[Path] = []
    if root.is_symlink():
        imp.error(where, f"{root} is a symlink; netlab follows none out of the lab",
                  "replace it by the directory or file itself")
        return files
    if root.is_file():
        entries = [root]
    else:
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            for d in list(dirnames):
                if (Path(dirpath) / d).is_symlink():
                    imp.error(where, f"{Path(dirpath) / d} is a symlink; netlab follows none",
                              "replace it by the directory itself")
                    dirnames.remove(d)
            dirnames.sort()
            entries.extend(Path(dirpath) / f for f in sorted(filenames))
            if len(entries) > MAX_FILES:
                imp.error(where, f"{root} holds more than {MAX_FILES} files",
                          "keep only the configuration the lab needs")
                return files
    for path in entries:
        rel = path.relative_to(root).as_posix() if path != root else ""
        target = prefix.rstrip("/") + "/" + rel if rel else prefix
        target = "/" + target.lstrip("/")
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            imp.error(where, f"{path} is a symlink; netlab copies no symlinks",
                      "replace it by the file itself")
            continue
        if not stat.S_ISREG(st.st_mode):
            imp.error(where, f"{path} is not a regular file", "remove it")
            continue
        if why := check_path(target):
            imp.error(where, f"{path} would go to {target}, which {why}",
                      "move or remove it")
            continue
        if st.st_size > MAX_FILE:
            imp.error(where, f"{path} is larger than {MAX_FILE >> 20} MiB", "remove it")
            continue
        entry: dict[str, Any] = {}
        if out_dir is not None and _inside(path, out_dir):
            entry["source"] = os.path.relpath(path, out_dir)
        else:
            try:
                entry["content"] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                imp.error(where, f"{path} is not UTF-8 text, and the topology is written"
                          " outside the lab, so it cannot be referred to",
                          "write the topology inside the lab's directory (-o)")
                continue
        if st.st_mode & 0o111:
            entry["mode"] = 0o755
        files[target] = entry
    return files


def _inside(path: Path, directory: Path) -> bool:
    try:
        path.resolve().relative_to(directory.resolve())
    except ValueError:
        return False
    return True


# --- collision domains -> switches and links -------------------------------------------------

@dataclass
class Port:
    """One interface of a node on a segment, with what the lab sets on it."""

    node: str
    ifname: str
    mac: str | None = None
    # addresses found for it, each with where it was set (file and line)
    found: list[tuple[Iface, str]] = field(default_factory=list)
    taken: list[Iface] = field(default_factory=list)  # those the topology holds


def _is_global(a: Iface) -> bool:
    return not (a.version == 6 and a.ip.is_link_local)


def build_segments(imp: Imported, domains: dict[str, list[Port]], where: dict[str, str],
                   taken_names: set[str], switches: frozenset[str] = frozenset()) -> None:
    """Collision domains -> netlab segments: a point-to-point link where a domain has two
    members that are both addressed alike (and is not in `switches`), else a switch. Of
    each interface's addresses, the first IPv4 and IPv6 ones in the domain's most common
    subnet go in the topology (netlab checks and shows them); the others stay in the
    script that sets them."""
    for domain, ports in domains.items():
        for family in (4, 6):
            nets: dict[Any, int] = {}
            for p in ports:
                for a, _ in p.found:
                    if a.version == family and _is_global(a):
                        nets[a.network] = nets.get(a.network, 0) + 1
            if not nets:
                continue
            best = max(nets, key=lambda n: nets[n])
            for p in ports:
                mine = [a for a, _ in p.found if a.version == family and a.network == best]
                if mine:
                    p.taken.append(mine[0])
        for p in ports:
            p.taken.sort(key=lambda a: a.version)
        shape = {tuple(a.version for a in p.taken) for p in ports}
        if len(ports) == 2 and len(shape) == 1 and domain not in switches:
            a, b = ports
            link: dict[str, Any] = {"endpoints": [f"{a.node}:{a.ifname}",
                                                  f"{b.node}:{b.ifname}"]}
            if a.taken:
                link["addresses"] = [_addr(p.taken) for p in ports]
            if a.mac or b.mac:
                link["props"] = [{"mac": p.mac} if p.mac else {} for p in ports]
            link["#"] = f"collision domain {domain}"
            imp.links.append(link)
            _unaddressed(imp, ports, where[domain])
            continue
        switch = netlab_name(domain, taken_names)
        imp.switches[switch] = {}
        if switch != domain:
            imp.switch_comments[switch] = [f"collision domain {domain}"]
        for p in ports:
            link = {"endpoints": [f"{p.node}:{p.ifname}", switch]}
            if p.taken:
                link["addresses"] = [_addr(p.taken)]
            if p.mac:
                link["props"] = [{"mac": p.mac}, {}]
            imp.links.append(link)
        _unaddressed(imp, ports, where[domain])


def _addr(addrs: list[Iface]) -> Any:
    return str(addrs[0]) if len(addrs) == 1 else [str(a) for a in addrs]


def _unaddressed(imp: Imported, ports: list[Port], where: str) -> None:
    bare = [f"{p.node}:{p.ifname}" for p in ports if not any(a.version == 4 for a in p.taken)]
    if bare:
        imp.warning(where, f"{', '.join(bare)} {'has' if len(bare) == 1 else 'have'} no IPv4"
                    f" address in the {imp.tool} lab; netlab gives every interface one,"
                    " from its pools", "set the address the lesson expects in the"
                    " startup/exec lines (ip address add ... dev ...), if it matters")


def rewrite_addresses(lines: list[str], taken: set[tuple[str, Iface]]) -> list[str]:
    """The script with each line that sets an address the topology now holds turned into
    a comment (same line count: errors keep the original line numbers)."""
    out = []
    for line in lines:
        found = address_of_line(line)
        if found and (found[0], found[1]) in taken:
            out.append(f"# netlab: the topology sets this address: {line.strip()}")
        else:
            out.append(line)
    return out
