"""Run `netlab deploy FILE` and have it signal itself right after deploy phase K.

    python killer.py K SIGNAL FILE        (K indexes netlab.backends.kernel.apply.PHASES)
    python killer.py exec SIGNAL FILE     (inside the first `exec` start, after the
                                           process exists, before it is journaled)

Deploy does not offer a test hook, so this wraps its phase list from outside; the signal
is real (os.kill of this very process), as if Ctrl-C or `kill -9` arrived at that moment.
"""

from __future__ import annotations

import os
import signal
import sys


def main() -> None:
    where, signame, file = sys.argv[1], sys.argv[2], sys.argv[3]
    sig = getattr(signal, signame)
    from netlab.backends.kernel import apply, procs

    if where == "exec":
        real = procs.start

        def start_then_signal(*args, **kw):  # type: ignore[no-untyped-def]
            entry = real(*args, **kw)
            os.kill(os.getpid(), sig)
            return entry

        procs.start = start_then_signal  # type: ignore[assignment]
    else:
        k = int(where)
        name, step = apply.PHASES[k]

        def then_signal(ctx, step=step):  # type: ignore[no-untyped-def]
            step(ctx)
            os.kill(os.getpid(), sig)

        apply.PHASES[k] = (name, then_signal)
    from netlab.cli import app

    sys.argv = ["netlab", "deploy", file]
    app()


if __name__ == "__main__":
    main()
