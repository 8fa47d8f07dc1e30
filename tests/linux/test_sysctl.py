"""Sysctls of new namespaces are written through a private procfs, not /proc/sys, whose
lookups cost O(namespaces alive) (docs/performance.md, "Big labs"); the value lands in
the writing thread's namespace either way, and nothing stays open afterwards."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import pytest

from netlab.linux import sysctl
from netlab.linux.netns import CLONE_NEWNET, setns, unshare

pytestmark = pytest.mark.root

KEY = "net.ipv4.ip_forward"


def _in_new_netns(fn: Callable[[], Any]) -> Any:
    """fn() in a thread that is in a new, unnamed network namespace (freed after)."""
    out: dict[str, Any] = {}

    def run() -> None:
        back = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            unshare(CLONE_NEWNET)
            try:
                out["value"] = fn()
            except BaseException as e:  # handed to the test's thread
                out["error"] = e
            setns(back, CLONE_NEWNET)
        finally:
            os.close(back)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_sysctls_go_through_a_private_procfs(monkeypatch: pytest.MonkeyPatch) -> None:
    host = sysctl.read_sysctl(KEY)
    want = "0" if host == "1" else "1"
    opened: list[str] = []
    real_open = os.open

    def spy(path: str, *a: Any, **kw: Any) -> int:
        opened.append(str(path))
        return real_open(path, *a, **kw)

    def write_and_read() -> tuple[str, int]:
        fds = len(os.listdir("/proc/self/fd"))
        with sysctl.private_proc():
            monkeypatch.setattr(os, "open", spy)
            for _ in range(sysctl.PROC_WRITES + 1):  # and one more instance
                sysctl.write_sysctl(KEY, want)
            monkeypatch.undo()
        return sysctl.read_sysctl(KEY), len(os.listdir("/proc/self/fd")) - fds

    value, leaked = _in_new_netns(write_and_read)
    assert value == want  # in the new namespace
    assert sysctl.read_sysctl(KEY) == host  # not in the host's
    assert opened and not any(p.startswith("/proc/sys") for p in opened), opened[:3]
    assert leaked == 0


def test_without_fsopen_proc_sys_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sysctl, "_new_proc", lambda: -1)  # a kernel before 5.2

    def write_and_read() -> str:
        with sysctl.private_proc():
            sysctl.write_sysctl(KEY, "1")
        return sysctl.read_sysctl(KEY)

    assert _in_new_netns(write_and_read) == "1"
