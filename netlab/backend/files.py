"""Per-node DNS files: /etc/netns/<ns>/{resolv.conf,hosts}, the iproute2 convention that
`ip netns exec` (and `netlab exec`) bind-mounts over /etc/resolv.conf and /etc/hosts."""

from __future__ import annotations

import contextlib
import os

from netlab.plan import NodePlan

ETC_NETNS = "/etc/netns"
FILES = ("resolv.conf", "hosts")


def etc_dir(netns: str) -> str:
    return os.path.join(ETC_NETNS, netns)


def conflicts(netns: str) -> list[str]:
    """Files deploy would overwrite that netlab did not write."""
    return [p for f in FILES if os.path.lexists(p := os.path.join(etc_dir(netns), f))]


def write(node: NodePlan) -> None:
    d = etc_dir(node.netns)
    os.makedirs(d, mode=0o755, exist_ok=True)
    for name, text in (("resolv.conf", node.resolv_conf), ("hosts", node.hosts)):
        fd = os.open(os.path.join(d, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC,
                     0o644)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)


def remove(netns: str) -> None:
    """Remove netlab's two files and the directory if that leaves it empty."""
    d = etc_dir(netns)
    for name in FILES:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(d, name))
    with contextlib.suppress(OSError):  # gone already, or holds files someone else put there
        os.rmdir(d)
