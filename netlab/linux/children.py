"""Waiting for a child this process forked to run a command inside namespaces it joined
(`netlab exec` into a node's PID namespace, the rootless CLI joining its holder): the
terminal's own signals ignored here (the child gets them from the terminal), the others
passed on, the child's status returned as a shell gives it (128 + signal)."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterable


def wait_passing_signals(child: int, ignored: Iterable[int] = (signal.SIGINT,),
                         forwarded: Iterable[int] = (signal.SIGTERM, signal.SIGHUP)) -> int:
    """Wait for `child`; return its exit code (128 + n if signal n ended it; 1 if it is
    not our child)."""
    forwarded = tuple(forwarded)
    for s in ignored:
        signal.signal(s, signal.SIG_IGN)

    def forward(signum: int, frame: object) -> None:
        with contextlib.suppress(OSError):
            os.kill(child, signum)

    for s in forwarded:
        signal.signal(s, forward)
    try:
        while True:
            try:
                _, status = os.waitpid(child, 0)
                break
            except InterruptedError:
                continue
            except ChildProcessError:
                return 1
    finally:
        for s in forwarded:
            signal.signal(s, signal.SIG_IGN)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code
