"""Each node as a small machine: a private mount namespace (and, optionally, a PID
namespace) next to its network and UTS namespaces (docs/machines.md).

Layout. At deploy every node gets a mount namespace, pinned in the lab's state
directory (`<lab>/mnt/<node>`, journaled as "mntns") and undone with it, in which:
- /etc, /var and /root are overlays: the host's directory below, the node's own upper
  directory above (writes stay in the node; the host's files are shared, not copied);
- /run and /tmp are the node's own empty directories (so FRR's pid files, sockets and
  the like never meet another node's);
- /sys shows the node's interfaces; /proc is the node's own when it has a PID namespace;
- /usr, /bin, /lib and everything else is the host's, shared.
A top-level directory that the node's `files` write into (e.g. /srv) is overlaid too.
The upper directories live in the lab's `machines` tmpfs (`<lab>/machines/<node>/`), so
the host can read what a node wrote, and destroy frees it all by unmounting the lab's
state directory.

Some host directories are made in a node's upper layer before its overlays are mounted
(layers.py): what a user namespace's overlay cannot copy up or look into.

Every command netlab runs in a node (plan `exec` and `startup`, `netlab exec/shell`, the
probes that run commands) enters that mount namespace, with /root as its working
directory (entry.py).

How the namespaces are made: a worker thread unshares a "base" mount namespace from the
host's, in which everything netlab mounts elsewhere (/run/netns pins, every lab's state)
is detached and the lab's `machines` tmpfs is attached at /run; each node's namespace is
then a copy of that small base. So a node holds no reference to any other namespace or
lab (a copy of a pin would keep that namespace alive), copying it costs the same however
many labs run, and nothing it mounts propagates back to the host (the base is a slave).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from netlab.backends.kernel.layers import (
    STATE_DIRS,
    USERNS_STATE_DIRS,
    Prepared,
    file_dirs,
    may_list,
    state_dirs,
)
from netlab.errors import NetlabError
from netlab.linux import mounts
from netlab.linux.mounts import (
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_SLAVE,
)
from netlab.linux.netns import (
    CLONE_FS,
    CLONE_NEWNET,
    CLONE_NEWNS,
    setns,
    unshare,
)
from netlab.linux.userns import in_child_userns
from netlab.state.layout import MACHINES_DIR, MNT_DIR, lab_dir, run_dir

if TYPE_CHECKING:
    from netlab.plan.model import FilePlan, NodePlan

PARALLEL_NODES = 64  # from this many nodes, two threads make the machines

OVERLAID = ("/etc", "/var", "/root")  # the host's below, the node's writes above
FRESH = {"/run": 0o755, "/tmp": 0o1777}  # the node's own, empty at deploy
HOME = "/root"  # where commands run
# Top-level directories a node's files may not be written into (kernel filesystems,
# devices, the boot loader's).
NOT_OVERLAID = ("/proc", "/sys", "/dev", "/boot", "/lost+found")


class MachineError(NetlabError):
    pass


# --- paths ---------------------------------------------------------------------------


def machines_dir(lab: str) -> str:
    return str(lab_dir(lab) / MACHINES_DIR)


def pin_path(lab: str, node: str) -> str:
    return str(lab_dir(lab) / MNT_DIR / node)


def top_dir(path: str) -> str:
    """'/etc/frr/frr.conf' -> '/etc'."""
    return "/" + path.lstrip("/").split("/", 1)[0]


def overlays(node: NodePlan) -> list[str]:
    """The directories overlaid in the node: OVERLAID, and the top-level directories
    its files go into (other than the fresh ones)."""
    out = list(OVERLAID)
    for f in node.files:
        top = top_dir(f.path)
        if top not in out and top not in FRESH:
            out.append(top)
    return out


def problems(nodes: list[NodePlan]) -> list[tuple[str, str, str]]:
    """What this machine cannot give the nodes' files, as (node, message, fix): a
    top-level directory that does not exist here (a node's view is the host's tree; netlab
    never creates directories in the host's root), or that must not be overlaid."""
    out = []
    for node in nodes:
        for top in overlays(node)[len(OVERLAID):]:
            if top in NOT_OVERLAID:
                out.append((node.name, f"files cannot be written under {top} (a kernel,"
                            " device or boot filesystem)", "choose another directory"))
                continue
            try:
                st = os.lstat(top)
            except OSError:
                st = None
            if st is None or not stat.S_ISDIR(st.st_mode):
                out.append((node.name, f"files under {top}: this machine has no directory"
                            f" {top} (a node shares the host's top-level directories, and"
                            " netlab creates none)", "put the files under /etc, /var, /root,"
                            " /srv, /opt or another directory this machine has"))
    return out


# --- deploy: making the machines -----------------------------------------------------


@dataclass
class Made:
    """One node's new mount namespace, open as `fd` (pinned by the caller)."""

    node: str
    fd: int


@dataclass
class Builder:
    """The worker that makes the nodes' mount namespaces (see the module docstring)."""

    lab: str
    nodes: list[NodePlan]
    net_fds: dict[str, int]  # netns name -> open descriptor (for the node's /sys)
    hosts: str
    made: list[Made] = field(default_factory=list)
    error: BaseException | None = None
    sys_ro: bool = False  # the host's /sys is read-only: so is the nodes' (a container's)
    data: dict[tuple[str, str], bytes] = field(default_factory=dict)  # files to copy
    # In a user namespace (rootless) overlayfs keeps its whiteouts and opaque marks in
    # user.* xattrs: trusted.* needs the initial namespace's CAP_SYS_ADMIN.
    userns: bool = field(default_factory=in_child_userns)
    cancel: threading.Event = field(default_factory=threading.Event)
    state: list[Prepared] = field(default_factory=list)  # STATE_DIRS, read once
    listable: dict[str, bool] = field(default_factory=dict)  # top-level dir -> may_list

    @property
    def overlay_options(self) -> str:
        return ",userxattr" if self.userns else ""

    @property
    def opaque_xattr(self) -> str:
        return ("user" if self.userns else "trusted") + ".overlay.opaque"

    def may_list_top(self, top: str) -> bool:
        """Whether the node's overlay can look into and list a top-level host directory
        (False: /root, 0700, in a user namespace): else the node gets its own there."""
        if top not in self.listable:
            self.listable[top] = may_list(top)
        return self.listable[top]

    def close(self) -> None:
        """Close the descriptors of the namespaces made (pinned ones stay alive)."""
        while self.made:
            os.close(self.made.pop().fd)

    def run(self) -> None:
        """Make every node's namespace: in two threads for a large lab (each with its own
        base), which overlap well on two CPUs; the caller pins them (`made`)."""
        # Files to copy are read here, in the host's view: a node's own /tmp, /run or
        # /root would hide a lab directory there.
        for node in self.nodes:
            for f in node.files:
                if f.source is not None:
                    self.data[(node.name, f.path)] = _read_source(f.source)
        # Root's copy-up works but for /var/tmp (module docstring).
        self.state = state_dirs(STATE_DIRS + (USERNS_STATE_DIRS if self.userns else ()))
        n = len(self.nodes)
        chunks = [self.nodes[:n // 2], self.nodes[n // 2:]] if n >= PARALLEL_NODES \
            else [self.nodes]
        threads = [threading.Thread(target=self._work, args=(c,), daemon=True,
                                    name=f"netlab-machines-{i}") for i, c in enumerate(chunks)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if self.error is not None:
            raise self.error

    def _work(self, nodes: list[NodePlan]) -> None:
        try:
            unshare(CLONE_FS | CLONE_NEWNS)  # this thread only: the base
            self.sys_ro = bool(os.statvfs("/sys").f_flag & os.ST_RDONLY)
            tree = mounts.open_tree(machines_dir(self.lab))
            try:
                mounts.mount(None, "/", None, MS_SLAVE | MS_REC)
                mounts.detach_under(["/run/netns", str(run_dir()), "/sys"])
                mounts.move_mount(tree, "/run")
                # A clone of a shared mount is its peer: without this, what each node
                # mounts over /run would propagate to the host's copy and the base.
                mounts.mount(None, "/run", None, MS_PRIVATE | MS_REC)
            finally:
                os.close(tree)
            base = os.open("/proc/thread-self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
            own_net = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                for node in nodes:
                    if self.cancel.is_set() or self.error is not None:
                        return
                    node_dirs("/run", node, self.hosts)
                    self._prepare(f"/run/{node.name}/upper", node)
                    unshare(CLONE_NEWNS)
                    try:
                        self._furnish(node, own_net)
                        fd = os.open("/proc/thread-self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
                    finally:
                        setns(base, CLONE_NEWNS)
                    self.made.append(Made(node.name, fd))
            finally:
                os.close(base)
                os.close(own_net)
        except BaseException as e:  # handed to run()
            self.error = e

    def _prepare(self, upper: str, node: NodePlan) -> None:
        """Make the prepared directories (module docstring) in the node's upper layer:
        the state directories (in a user namespace), then those on the way to its files
        (below top-level directories the overlay can look into)."""
        dirs = {d.path: d for d in self.state}
        for d in file_dirs(node, FRESH):
            if self.may_list_top(top_dir(d.path)):
                dirs.setdefault(d.path, d)
        for d in dirs.values():  # parents first: each list is in that order
            path = upper + d.path
            os.mkdir(path)
            os.chmod(path, stat.S_IMODE(d.st.st_mode))  # the node's root's (module doc)
            with contextlib.suppress(OSError):  # the host's group, where it is mapped
                os.chown(path, -1, d.st.st_gid)
            if d.opaque:
                os.setxattr(path, self.opaque_xattr, b"y")

    def _furnish(self, node: NodePlan, own_net: int) -> None:
        """Mount the node's view in this (new, unshared) namespace and write its files."""
        mine = f"/run/{node.name}"  # the machines tmpfs is at /run in the base
        for d in overlays(node):
            sub = d.lstrip("/")
            if not self.may_list_top(d):
                # The overlay could not list or look into it: the node's own, empty.
                mounts.mount(f"{mine}/upper/{sub}", d, None, MS_BIND)
                continue
            mounts.mount("overlay", d, "overlay", MS_NOSUID,
                         f"lowerdir={d},upperdir={mine}/upper/{sub},workdir={mine}/work/{sub}"
                         + self.overlay_options)
        mounts.mount(f"{mine}/tmp", "/tmp", None, MS_BIND)
        mounts.mount(f"{mine}/run", "/run", None, MS_BIND)  # covers the machines tmpfs
        # The base has no /sys (detached once, with its many submounts: a detach per node
        # cost more than all else here); a sysfs mounted from inside the node's network
        # namespace shows the node's interfaces.
        setns(self.net_fds[node.netns], CLONE_NEWNET)
        try:
            mounts.mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC
                         | (MS_RDONLY if self.sys_ro else 0))
        finally:
            setns(own_net, CLONE_NEWNET)
        for f in node.files:
            write_file(f, self.data.get((node.name, f.path)))


def prepare(lab: str) -> None:
    """The lab's machines tmpfs and the directory of the mount namespaces' pins."""
    root = machines_dir(lab)
    os.mkdir(root, 0o700)
    # Not the state tmpfs's noexec: a node runs scripts from its /tmp and /root.
    mounts.mount("netlab-machines", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    pins = str(lab_dir(lab) / MNT_DIR)
    os.mkdir(pins, 0o700)
    # Its own private mount: the kernel refuses to propagate a mount namespace's pin to
    # the copies of a shared mount (the state directory is one, under /run/netlab).
    mounts.mount(pins, pins, None, MS_BIND)
    mounts.mount(None, pins, None, MS_PRIVATE)


def node_dirs(root: str, node: NodePlan, hosts: str) -> None:
    """A node's directories in the machines tmpfs (at `root`), with its /etc/hosts,
    /etc/resolv.conf and /etc/hostname already in its /etc upper directory (the same text
    `ip netns exec` users get from /etc/netns/<netns>)."""
    d = os.path.join(root, node.name)
    os.mkdir(d, 0o755)
    for part in ("upper", "work"):
        os.mkdir(os.path.join(d, part), 0o755)
        for top in overlays(node):
            os.mkdir(os.path.join(d, part, top.lstrip("/")), 0o755)
    with contextlib.suppress(OSError):
        _copy_mode(os.path.join(d, "upper", "root"), os.stat("/root"))
    for fresh, mode in FRESH.items():
        p = os.path.join(d, fresh.lstrip("/"))
        os.mkdir(p)
        os.chmod(p, mode)
    os.mkdir(os.path.join(d, "run", "lock"))
    os.chmod(os.path.join(d, "run", "lock"), 0o1777)
    etc = os.path.join(d, "upper", "etc")
    texts = {"hostname": node.hostname + "\n", "resolv.conf": node.resolv_conf}
    if node.hosts_file:
        texts["hosts"] = hosts
    for name, text in texts.items():
        _write_new(os.path.join(etc, name), text.encode(), 0o644)


def _copy_mode(path: str, st: os.stat_result) -> None:
    """An overlay's merged root takes the upper directory's owner and mode: the host's
    (the owner where it is mapped: in a user namespace the host's root is not, and the
    directory stays the user's, uid 0 in there)."""
    os.chmod(path, stat.S_IMODE(st.st_mode))
    with contextlib.suppress(OSError):
        os.chown(path, st.st_uid, st.st_gid)


def pin(lab: str, made: Made) -> None:
    """Pin a node's mount namespace at its path in the lab's state directory."""
    path = pin_path(lab, made.node)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    mounts.mount(f"/proc/self/fd/{made.fd}", path, None, MS_BIND)


# --- files -----------------------------------------------------------------------------


def write_file(f: FilePlan, data: bytes | None = None) -> None:
    """Write one file of the plan at its path in this thread's (the node's) view: every
    directory on the way is walked without following a symlink (a link in the host's
    /etc must not send the write into the shared /usr), missing ones are made (0755), and
    whatever is at the path itself (a file, a link) is replaced."""
    if f.text is not None:
        data = f.text.encode()
    elif data is None:
        assert f.source is not None
        data = _read_source(f.source)
    parts = [p for p in f.path.split("/") if p]
    fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for i, part in enumerate(parts[:-1]):
            try:
                nfd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                              dir_fd=fd)
            except FileNotFoundError:
                os.mkdir(part, 0o755, dir_fd=fd)
                nfd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                              dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    where = "/" + "/".join(parts[:i + 1])
                    raise MachineError(f"file {f.path}: {where} is a symbolic link or not a"
                                       " directory in the node; netlab writes only through"
                                       " real directories (choose another path)") from None
                raise
            os.close(fd)
            fd = nfd
        with contextlib.suppress(FileNotFoundError):
            st = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                raise MachineError(f"file {f.path}: a directory is there in the node")
            os.unlink(parts[-1], dir_fd=fd)
        out = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                      | os.O_CLOEXEC, f.mode, dir_fd=fd)
        try:
            os.write(out, data)
            os.fchmod(out, f.mode)  # not narrowed by the umask
        finally:
            os.close(out)
    finally:
        os.close(fd)


def _read_source(path: str) -> bytes:
    """A file of the lab directory (compile checked it lies inside, with no link on the
    way); the last component is opened without following a link put there since."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as e:
        raise MachineError(f"cannot read {path}: {e.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise MachineError(f"{path} is not a regular file")
        with os.fdopen(os.dup(fd), "rb") as fh:
            return fh.read()
    finally:
        os.close(fd)


def _write_new(path: str, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
