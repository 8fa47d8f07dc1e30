"""Which namespaces and /run/netns files are netlab's (docs/backend.md, "Ownership").

- cookie: every network namespace has a 64-bit cookie (getsockopt SO_NETNS_COOKIE on any
  socket opened inside it) from a counter the kernel never rewinds: unlike the nsfs inode
  number, which is reused soon after a namespace is freed, no other namespace ever has it.
  Deploy reads it from the netlink socket it opens inside each new namespace and journals it.
- marker: before a namespace is pinned (so before anyone can see it), its `lo` gets the
  alias (IFLA_IFALIAS) "netlab <lab> <netns name> <deploy token>". It proves ownership when
  the journal has no entry for the namespace (deploy killed between pin and journal, or the
  state directory lost); a namespace made by hand has no such alias.
- placeholder files: the first /run/netns file of a deploy is created with the extended
  attribute trusted.netlab = "netlab <lab> <deploy token>" already set (namespaces.py:
  `placeholder`); the others are hard links to it, so they share it. A file someone else
  made at a journaled name, or a new file that happens to reuse a freed inode number,
  carries no such mark.

Destroy acts on a namespace only through `hold`: the pinned file is opened (the descriptor
keeps the namespace alive, so its nsfs (st_dev, st_ino) cannot pass to another namespace
while held), entered in a thread of its own, and its cookie and marker read from inside.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass

from netlab.errors import NamespaceGone
from netlab.linux import netlink
from netlab.linux.netns import CLONE_NEWNET, entered_fd, is_nsfs, open_ns
from netlab.linux.userns import in_child_userns

SO_NETNS_COOKIE = 71  # asm-generic/socket.h, Linux >= 5.14
LO_INDEX = 1
# trusted.*: only root can set it (CAP_SYS_ADMIN in the initial user namespace). Rootless
# (a user namespace, backends/userns), where trusted.* is refused: user.*, on a /run/netns
# that is the user's private tmpfs, which nobody else can write.
XATTR = "user.netlab" if in_child_userns() else "trusted.netlab"
_COOKIE = struct.Struct("=Q")


def cookie(sock: socket.socket) -> int:
    """The cookie of the network namespace a socket was opened in (never reused)."""
    return int(_COOKIE.unpack(sock.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE, 8))[0])


def marker(lab: str, netns: str, token: str) -> str:
    """The alias netlab gives `lo` in each namespace it creates."""
    return f"netlab {lab} {netns} {token}"


def marker_of_lab(text: str | None, lab: str, netns: str, run: str | None = None) -> bool:
    """Whether a `lo` alias is netlab's marker for namespace `netns` of lab `lab`, whatever
    the deploy (names contain no spaces, so the fields cannot run into each other); with
    `run`, only a deploy from that run directory (token_of_run)."""
    parts = (text or "").split(" ")
    return (len(parts) == 4 and parts[:3] == ["netlab", lab, netns]
            and token_of_run(parts[3], run))


def token_of_run(token: str, run: str | None) -> bool:
    """Whether a deploy token ("<run tag>.<random>", state.layout.run_tag) was made from
    run directory `run` (None: any). A token without a tag (netlab before tags) may be
    from any run directory: taken, as it always was."""
    tag, dot, rest = token.rpartition(".")
    if not dot:
        return bool(token)
    return bool(tag and rest) and (run is None or tag == run)


def file_marker(lab: str, token: str) -> str:
    """The trusted.netlab attribute of a deploy's /run/netns placeholder files."""
    return f"netlab {lab} {token}"


def file_marker_of_lab(text: str | None, lab: str, run: str | None = None) -> bool:
    parts = (text or "").split(" ")
    return len(parts) == 3 and parts[:2] == ["netlab", lab] and token_of_run(parts[2], run)


def set_marker(sock: socket.socket, text: str, lo_up: bool = False) -> None:
    """Set `lo`'s alias to `text` (and bring it up, with lo_up) in the socket's
    namespace, in one request, acknowledged before returning."""
    flags = netlink.IFF_UP if lo_up else 0
    body = netlink.ifinfo(LO_INDEX, flags, flags) + netlink.attr_str(netlink.IFLA_IFALIAS, text)
    mtype, payload = netlink.request(sock, netlink.RTM_NEWLINK, netlink.NLM_F_ACK, body)
    code = netlink.error_of(mtype, payload) if mtype == netlink.NLMSG_ERROR else errno.EPROTO
    if code:
        raise OSError(code, f"cannot mark the new namespace (alias of lo): {os.strerror(code)}")


def read_marker(sock: socket.socket) -> str | None:
    """`lo`'s alias in the socket's namespace (None if it has none, or cannot be read:
    then the namespace is not proven netlab's)."""
    try:
        lo = netlink.get_link(sock, LO_INDEX)
    except netlink.NetlinkError:
        return None
    return None if lo is None else lo.text(netlink.IFLA_IFALIAS)


def file_mark(path: str) -> str | None:
    """The trusted.netlab mark of the file at path (not through a symlink), or None."""
    try:
        return os.getxattr(path, XATTR, follow_symlinks=False).decode(errors="replace")
    except OSError:
        return None


def remove_placeholder(path: str, mark: Callable[[str | None], bool]) -> bool:
    """Remove an empty placeholder file with nothing mounted on it, only if its
    trusted.netlab mark passes `mark` (a file made by someone else has none)."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_size or is_nsfs(st) or not mark(file_mark(path)):
        return False
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return True


@dataclass
class Held:
    """A network namespace held open (`fd`) and read from inside: while held, the kernel
    cannot free it, so (dev, ino) of its nsfs file belong to it alone."""

    path: str
    fd: int
    dev: int
    ino: int
    cookie: int
    marker: str | None

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def socket_in(fd: int, family: int, kind: int, proto: int = 0) -> socket.socket:
    """A socket opened inside the namespace open as `fd`, from a short-lived thread.

    /proc/<pid>/ns/net shows the main thread's namespace: a process whose main thread
    stepped into another lab's namespace, even for microseconds, looks like a process of
    that lab, and a destroy of that lab running at the same moment would end it (seen:
    a destroy scanning /run/netns was SIGKILLed by another lab's destroy). Other threads'
    namespaces are invisible there, and a socket stays bound to the namespace it was
    opened in."""
    out: list[socket.socket] = []
    err: list[BaseException] = []

    def run() -> None:
        try:
            with entered_fd(fd):
                out.append(socket.socket(family, kind, proto))
        except BaseException as e:  # handed back below
            err.append(e)

    t = threading.Thread(target=run, name="netlab-socket-in")
    t.start()
    t.join()
    if err:
        raise err[0]
    return out[0]


def hold(path: str, marker: bool = True) -> Held | None:
    """The network namespace pinned at `path` (never through a symlink), held and entered
    in this thread to read its cookie and (with `marker`) its marker; None if no network
    namespace is there. ~30 us for the cookie alone (a UNIX socket), ~75 us with the
    marker (a netlink request), mostly the two setns."""
    try:
        fd = open_ns(path, CLONE_NEWNET)
    except NamespaceGone:
        return None
    try:
        st = os.fstat(fd)
        family, proto = (socket.AF_NETLINK, netlink.NETLINK_ROUTE) if marker else \
            (socket.AF_UNIX, 0)
        sock = socket_in(fd, family, socket.SOCK_RAW if marker else socket.SOCK_DGRAM, proto)
        try:
            return Held(path, fd, st.st_dev, st.st_ino, cookie(sock),
                        read_marker(sock) if marker else None)
        finally:
            sock.close()
    except BaseException:
        os.close(fd)
        raise
