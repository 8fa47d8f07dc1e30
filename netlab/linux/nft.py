"""nftables, netlab's one driver: libnftables through ctypes, in this process.

Everything netlab loads goes through `run`: a node's ruleset (NAT, port forwards,
firewall) as one atomic transaction inside its namespace, the host-side table of an
uplink, the link-loss tables of netlab.backends.kernel.shaping, and the firewall check of
`netlab validate` (`sandbox`). In-process, a load costs ~0.25 ms against ~3.8 ms for a
fork and exec of the `nft` binary (docs/backend.md, "nftables driver").

Text is given to libnftables as a file (a memfd), not as a buffer: only then do its error
messages carry the line and column (`ruleset:LINE:COL: Error: ...`). Text that could make
nft read a file (`include`, outside strings and comments) is refused before nft sees it.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import functools
import json
import os
import re
import select
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from netlab.compile.firewall import include_problem
from netlab.errors import NetlabError
from netlab.linux.netns import CLONE_NEWNET, entered, unshare
from netlab.linux.userns import in_child_userns

LIBRARY = "libnftables.so.1"
CLONE_NEWUSER = 0x10000000
NOBODY = 65534  # who the firewall check runs as, outside its user namespace, for root
GUARD = "table ip netlab_guard"  # must survive a checked ruleset: no flush, no delete
_FAMILIES = frozenset({"ip", "ip6", "inet", "arp", "bridge", "netdev"})
_TABLE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


class NftError(NetlabError):
    pass


class NftUnavailable(NftError):
    """nftables cannot be used here (not installed, or no namespace to check in)."""


@functools.cache
def _lib() -> Any | None:
    try:
        lib = ctypes.CDLL(LIBRARY)
    except OSError:
        return None
    lib.nft_ctx_new.restype = ctypes.c_void_p
    lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
    lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
    lib.nft_run_cmd_from_filename.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    for fn in ("nft_ctx_buffer_output", "nft_ctx_buffer_error"):
        getattr(lib, fn).argtypes = [ctypes.c_void_p]
    for fn in ("nft_ctx_get_output_buffer", "nft_ctx_get_error_buffer"):
        getattr(lib, fn).argtypes = [ctypes.c_void_p]
        getattr(lib, fn).restype = ctypes.c_char_p
    return lib


def available() -> bool:
    return _lib() is not None


def missing_nft_message(nodes: list[str]) -> str:
    return ("nodes " + ", ".join(nodes) + " need nftables (NAT, port forwarding or a"
            f" firewall) but {LIBRARY} is not installed (Debian/Ubuntu: apt-get install"
            " nftables); nothing was built")


def run(text: str, netns: str | None = None) -> tuple[int, str, str]:
    """Run nft text (a ruleset, or commands) in `netns`, or in this thread's namespace
    when None; return (rc, output, errors). rc 0: all of it was applied, else none."""
    if (why := include_problem(text)) is not None:
        raise NftError(f"refused to give nft text that reads files: {why}")
    if netns is None:
        return _run(text)
    with entered(netns):
        return _run(text)


def _run(text: str) -> tuple[int, str, str]:
    lib = _lib()
    if lib is None:
        raise NftUnavailable(f"{LIBRARY} is not installed (Debian/Ubuntu: apt-get install"
                             " nftables)")
    ctx = lib.nft_ctx_new(0)
    fd = os.memfd_create("netlab-nft", os.MFD_CLOEXEC)
    try:
        data = text.encode()
        while data:
            data = data[os.write(fd, data):]
        lib.nft_ctx_buffer_output(ctx)
        lib.nft_ctx_buffer_error(ctx)
        path = f"/proc/self/fd/{fd}"
        rc = lib.nft_run_cmd_from_filename(ctx, path.encode())
        out = (lib.nft_ctx_get_output_buffer(ctx) or b"").decode(errors="replace")
        err = (lib.nft_ctx_get_error_buffer(ctx) or b"").decode(errors="replace")
    finally:
        os.close(fd)
        lib.nft_ctx_free(ctx)
    return rc, out, err.replace(f"{path}:", "ruleset:")


def load(ruleset: str, netns: str | None, what: str) -> None:
    """Load `ruleset` atomically; in `netns`, or in the host's namespace when None."""
    rc, _, err = run(ruleset, netns)
    if rc != 0:
        raise NftError(f"nft rejected the ruleset of {what}: {err.strip()}")


def _table(family: str, table: str) -> str:
    # Names may come from a journal on disk: never let them be more than a name.
    if family not in _FAMILIES or not _TABLE.fullmatch(table):
        raise NftError(f"refused nft table name {family!r} {table!r}")
    return f"{family} {table}"


def delete_host_table(family: str, table: str) -> bool:
    """Delete a table in the host's namespace; False if it was not there."""
    return available() and run(f"delete table {_table(family, table)}\n")[0] == 0


def host_table_exists(family: str, table: str) -> bool:
    return available() and run(f"list table {_table(family, table)}\n")[0] == 0


# -- the firewall check: nft's own parser, in a scratch namespace ----------------------------

@dataclass
class Verdict:
    """What nft made of one text in the scratch namespace."""

    ok: bool
    errors: str = ""
    foreign: list[str] = field(default_factory=list)  # tables other than the text's own
    lost: list[str] = field(default_factory=list)  # the guard table, if the text removed it


def sandbox(texts: dict[str, str], own: str = "table inet netlab_fw",
            interfaces: set[str] | None = None, timeout: float = 30.0) -> dict[str, Verdict]:
    """Load each text (name -> nft text) for real, one after the other, into one scratch
    network namespace and list what it created there. The work is done by a single forked
    child that has no inherited file descriptors, lives in a user namespace of its own and
    is, outside it, the invoking user (root: nobody), so that nothing it loads can touch the
    host's ruleset and no file root alone may read can be read. Only `own` (and a guard
    table loaded first, which must survive) may exist afterwards. `interfaces` are created
    there first (veths), for rules that name a device by index (`iif eth0`).
    """
    if _lib() is None:
        raise NftUnavailable(f"nftables is not installed: no {LIBRARY}")
    refused = {n: Verdict(False, f"ruleset:1:1: Error: {why}")
               for n, t in texts.items() if (why := include_problem(t)) is not None}
    todo = {n: t for n, t in texts.items() if n not in refused}
    if not todo:
        return refused
    if interfaces:
        pass
    up_r, up_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child reports through the pipe)
        _child(todo, own, sorted(interfaces or ()), up_w, go_r)
    os.close(up_w)
    os.close(go_r)
    deadline = time.monotonic() + timeout
    done = False
    try:
        first = _read(up_r, deadline, 1)
        if first != b"U":
            raise NftUnavailable((first + _read(up_r, deadline)).decode(errors="replace")[1:]
                                 or "the check process ended early")
        _map_ids(pid)
        os.write(go_w, b"G")
        try:
            reply = json.loads(_read(up_r, deadline) or b'{"": "no answer"}')
        except ValueError:
            raise NftUnavailable("the check answered garbage") from None
        done = True
    finally:
        os.close(up_r)
        os.close(go_w)
        if not done:  # our own child, by pid: it must not outlive a failed check
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    if "" in reply:
        raise NftUnavailable(f"the scratch namespace could not be used: {reply['']}")
    return refused | {n: Verdict(**v) for n, v in reply.items()}


def _read(fd: int, deadline: float, size: int = -1) -> bytes:
    """Up to `size` bytes (all, until EOF, for -1) before `deadline`."""
    out = b""
    while size < 0 or len(out) < size:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise NftUnavailable("the check took too long")
        chunk = os.read(fd, 65536 if size < 0 else size - len(out))
        if not chunk:
            break
        out += chunk
    return out


def _map_ids(pid: int) -> None:
    """Who the child is outside its user namespace: the caller, or nobody for root. Written
    from here, where root may map any id (the child itself could only map its own)."""
    # Rootless (a user namespace): its uid 0 is the user, and the only id it can map.
    real_root = os.geteuid() == 0 and not in_child_userns()
    uid, gid = (NOBODY, NOBODY) if real_root else (os.geteuid(), os.getegid())
    try:
        for name, value in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"),
                            ("gid_map", f"0 {gid} 1")):
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(value)
    except OSError as e:
        raise NftUnavailable(f"cannot set up the check's user namespace: {e.strerror}") from None


def _child(texts: dict[str, str], own: str, interfaces: list[str], up: int, go: int) -> None:
    """The forked checker (never returns). First byte to `up`: 'U' (in its namespaces,
    waiting for its ids) or 'E' + why not; then the verdicts as JSON."""
    code = 1
    try:
        # Both pipe ends above 2 (they could be 0-2 if this process had closed its stdio),
        # then every other inherited descriptor closed, and stdio on /dev/null.
        up, go = (fcntl.fcntl(fd, fcntl.F_DUPFD, 3) for fd in (up, go))
        keep = sorted((up, go))
        os.closerange(3, keep[0])
        os.closerange(keep[0] + 1, keep[1])
        os.closerange(keep[1] + 1, os.sysconf("SC_OPEN_MAX"))
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        if os.geteuid() == 0 and not in_child_userns():  # rootless may not setgroups
            os.setgroups([])  # root's groups would stay effective outside the namespace
        try:
            unshare(CLONE_NEWUSER | CLONE_NEWNET)
        except OSError as e:
            _write(up, b"E" + f"no user namespace for the check: {e.strerror}".encode())
            os._exit(0)
        _write(up, b"U")
        if os.read(go, 1) != b"G":
            os._exit(1)
        # Now become the mapped ids: uid 0 in here, nobody (or the caller) out there.
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
        _write(up, json.dumps(_check(texts, own, interfaces)).encode())
        code = 0
    except BaseException as e:  # noqa: BLE001  (anything: report it, never return)
        with contextlib.suppress(BaseException):
            _write(up, json.dumps({"": f"{type(e).__name__}: {e}"}).encode())
    finally:
        os._exit(code)


def _check(texts: dict[str, str], own: str, interfaces: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, (name, text) in enumerate(texts.items()):
        if k:
            # A fresh namespace per text: 0.5 ms, where `flush ruleset` waits 6-17 ms for
            # the kernel (RCU) before the next text could start clean.
            unshare(CLONE_NEWNET)
        if interfaces:
            _make_interfaces(interfaces)
        rc, _, err = _run(GUARD + " {\n}\n")
        if rc != 0:
            return {"": f"nftables does not work there: {' '.join(err.split())}"}
        rc, _, err = _run(text)
        listing = _run("list tables\n")[1]
        tables = [" ".join(line.split()[:3]) for line in listing.splitlines()
                  if line.startswith("table ")]
        out[name] = {"ok": rc == 0, "errors": err,
                     "foreign": [t for t in tables if t not in (own, GUARD)],
                     "lost": [] if GUARD in tables else [GUARD]}
    return out


def _make_interfaces(names: list[str]) -> None:
    """Veths named as the rules' devices, in the scratch namespace (no dummy needed)."""
    from netlab.linux import netlink

    sock = netlink.open_socket()
    fd = os.open("/proc/self/ns/net", os.O_RDONLY)
    b = netlink.Batch(sock, "check")
    for k, name in enumerate(names):
        netlink.new_veth(b, name=name, index=0, fd=fd, mtu=1500, peer=f"nlchk{k}",
                         peer_index=0, peer_fd=fd, peer_mtu=1500)
    with contextlib.suppress(NetlabError):  # a name the kernel refuses: nft will say so
        b.flush()
    os.close(fd)
    sock.close()


def _write(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]
