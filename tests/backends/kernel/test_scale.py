"""Scale without leaks: a 200-node lab deployed and destroyed 20 times in a row. Kernel
memory returns to where it started (within noise), and no namespace, mount, file
descriptor, thread or process accumulates, neither on the host nor in this process
(the Python API runs the backend in-process, so its leaks would be ours)."""

from __future__ import annotations

import os
import threading
import time

import pytest

from tests.support import topogen
from tests.support.host import leftovers, mount_points, netns_names
from tests.support.names import run_prefix

pytestmark = [pytest.mark.root, pytest.mark.host_exclusive]

P = run_prefix("t5")  # this run's lab names: two runs at once never share one

CYCLES = 20


def _meminfo() -> dict[str, int]:
    with open("/proc/meminfo") as f:
        return {line.split(":")[0]: int(line.split()[1]) for line in f}  # kB


def _kernel_kb() -> int:
    """Kernel memory that namespaces, links and sockets live in."""
    m = _meminfo()
    return m["Slab"] + m.get("KernelStack", 0) + m.get("PageTables", 0)


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))


def _counts(lab: str) -> dict[str, int]:
    # Host-wide totals would also count other labs deployed meanwhile; this lab's own
    # objects, and this process's resources, are what must not accumulate.
    return {
        "namespaces": sum(n.startswith(lab + "-") for n in netns_names()),
        "mounts": sum(lab in m for m in mount_points()),
        "fds": len(os.listdir("/proc/self/fd")),
        "threads": threading.active_count(),
        "children": len(_children()),
    }


def _children() -> list[str]:
    me = str(os.getpid())
    out = []
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[1] == me:
                    out.append(pid)
        except (OSError, IndexError):
            continue
    return out


def _settle(limit_kb: int, timeout: float = 10.0) -> int:
    """Kernel memory once the asynchronous namespace teardown has caught up (or the
    last reading if it never gets under limit_kb)."""
    end = time.monotonic() + timeout
    kb = _kernel_kb()
    while kb > limit_kb and time.monotonic() < end:
        time.sleep(0.2)
        kb = _kernel_kb()
    return kb


def test_200_node_lab_20_times_leaks_nothing(labs) -> None:  # type: ignore[no-untyped-def]
    from netlab.lab import Lab

    name = f"{P}sc"
    file = labs.write(name, topogen.star_lab(name, 199, switches=4))
    # One cycle first: imports, caches and the kernel's first-use allocations.
    lab = Lab.deploy(file)
    footprint = _kernel_kb()
    lab.destroy()
    base_counts = _counts(name)
    base_kernel = _settle(0, timeout=1.0)
    footprint -= base_kernel
    base_rss = _rss_kb()
    assert footprint > 0, "a deployed lab should cost kernel memory"
    for _ in range(CYCLES):
        lab = Lab.deploy(file)
        assert len(lab.plan.namespaces) == 204
        lab.destroy()
    assert leftovers(name) == []
    counts = _counts(name)
    # Descriptors: one more appeared once in four parallel suite runs (18 -> 19, in a
    # pytest-xdist worker; cause not found: a lazily made cache somewhere in the worker).
    # A leak per deploy would add 20 or more: a small slack keeps the test meaningful.
    fds, base_fds = counts.pop("fds"), base_counts.pop("fds")
    assert counts == base_counts
    assert fds - base_fds <= 2, f"{fds - base_fds} more descriptors after {CYCLES} cycles"
    # Noise: other processes' slab use. A leak of even a tenth of a lab per cycle would
    # add two whole labs over 20 cycles; half of one lab is allowed as noise.
    kernel = _settle(base_kernel + footprint // 2)
    assert kernel - base_kernel <= footprint // 2, (
        f"kernel memory grew {kernel - base_kernel} kB over {CYCLES} cycles"
        f" (one deployed lab costs {footprint} kB)")
    rss = _rss_kb()
    assert rss - base_rss <= 16 * 1024, f"this process grew {rss - base_rss} kB"
