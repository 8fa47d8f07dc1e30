"""Per-node DNS files: /etc/netns/<ns>/{resolv.conf,hosts}, the iproute2 convention that
`ip netns exec` (and `netlab exec`) bind-mounts over /etc/resolv.conf and /etc/hosts.

The files themselves live in the lab's state directory (a tmpfs) and /etc/netns/<ns> is a
symlink to their directory: on this VM's ext4 every new inode costs ~0.4 ms of CPU, so
nodes with identical files share one directory and one symlink (hard-linked once per
node) instead of a directory and two files each: most of a second saved at 500 nodes.
`ip netns exec` follows the link (opendir and mount both resolve it). Where an empty
/etc/netns/<ns> directory already exists, the files are written into it instead.

Every node's hosts file is the plan's one lab-level text, so nodes differ only by their
resolv.conf and whether they get the hosts file at all: a lab has as many directories as
distinct pairs (usually one). A node whose plan says `hosts_file = false` gets no hosts
file: `ip netns exec` bind-mounts only the files that exist in /etc/netns/<ns>, so that
node sees the machine's own /etc/hosts (and asks DNS for the lab's names).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # destroy must not import pydantic: it is most of its start-up time
    from netlab.plan.model import NodePlan

ETC_NETNS = "/etc/netns"
FILES = ("resolv.conf", "hosts")


def etc_dir(netns: str) -> str:
    return os.path.join(ETC_NETNS, netns)


def conflicts(netns: str, store: str) -> list[str]:
    """What deploy would overwrite that netlab did not write. A dangling link into this
    lab's own store (left when /run/netlab was lost, e.g. by a reboot) is netlab's."""
    d = etc_dir(netns)
    if _stale_link(d, store):
        return []
    if os.path.islink(d) or (os.path.lexists(d) and not os.path.isdir(d)):
        return [d]
    return [p for f in FILES if os.path.lexists(p := os.path.join(d, f))]


def store_dir(run_dir: str, lab: str) -> str:
    """Where a lab's DNS files really live (inside its tmpfs state directory)."""
    return os.path.join(run_dir, lab, "etc")


def _content_key(node: NodePlan) -> str:
    # The hosts text is the same for every node (plan format 2): not hashed per node,
    # only whether the node gets it.
    digest = hashlib.sha1(node.resolv_conf.encode()).hexdigest()
    return f"files-{digest[:12]}" + ("" if node.hosts_file else "-nohosts")


def plan_entry(node: NodePlan, store: str) -> dict[str, Any]:
    """The journal entry for a node's files (written before the files are). Nodes whose
    files are identical share one directory in the store."""
    if os.path.isdir(etc_dir(node.netns)) and not os.path.islink(etc_dir(node.netns)):
        return {"kind": "etc", "netns": node.netns}
    return {"kind": "etc", "netns": node.netns,
            "link": os.path.join(store, _content_key(node))}


def write_all(pairs: list[tuple[NodePlan, dict[str, Any]]], hosts: str) -> None:
    """Write each distinct pair of files once, then give every node its /etc/netns entry;
    `hosts` is the plan's hosts text, the /etc/hosts of every node with `hosts_file`.

    The first node with a given target gets a new symlink; the others get hard links to
    that symlink, which cost no new inode on the host's filesystem.
    """
    first_link: dict[str, str] = {}
    for node, entry in pairs:
        link = entry.get("link")
        text = hosts if node.hosts_file else None
        if link is None:
            _write_files(etc_dir(node.netns), node.resolv_conf, text)
            continue
        if link not in first_link:
            _write_files(link, node.resolv_conf, text)
        path = etc_dir(node.netns)
        if _stale_link(path, os.path.dirname(link)):
            os.unlink(path)
        if link in first_link:
            os.link(first_link[link], path, follow_symlinks=False)
        else:
            os.makedirs(ETC_NETNS, mode=0o755, exist_ok=True)
            os.symlink(link, path)
            first_link[link] = path


def _write_files(d: str, resolv_conf: str, hosts: str | None) -> None:
    """resolv.conf, and hosts unless it is None (the node then sees the machine's)."""
    os.makedirs(d, mode=0o755, exist_ok=True)
    for name, text in (("resolv.conf", resolv_conf), ("hosts", hosts)):
        if text is None:
            continue
        fd = os.open(os.path.join(d, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC,
                     0o644)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)


def _stale_link(path: str, store: str) -> bool:
    """A dangling link into this lab's own store: netlab's, left by a lost /run/netlab."""
    try:
        return os.path.dirname(os.readlink(path)) == store and not os.path.exists(path)
    except OSError:
        return False


def remove(entry: dict[str, Any]) -> None:
    """Remove the node's link (if it still points where netlab made it point), or
    netlab's two files and then the directory if that leaves it empty."""
    d = etc_dir(entry["netns"])
    link = entry.get("link")
    if link:
        with contextlib.suppress(OSError):
            if os.readlink(d) == link:
                os.unlink(d)
        return
    for name in FILES:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(d, name))
    with contextlib.suppress(OSError):  # gone already, or holds files someone else put there
        os.rmdir(d)
