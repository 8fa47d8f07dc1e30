"""Run `netlab deploy FILE` and have it signal itself right after deploy phase K.

    python killer.py K SIGNAL FILE        (K indexes netlab.backend.apply.PHASES)

Deploy does not offer a test hook, so this wraps its phase list from outside; the signal
is real (os.kill of this very process), as if Ctrl-C or `kill -9` arrived at that moment.
"""

from __future__ import annotations

import os
import signal
import sys


def main() -> None:
    k, signame, file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    from netlab.backend import apply

    name, step = apply.PHASES[k]

    def then_signal(ctx, step=step):  # type: ignore[no-untyped-def]
        step(ctx)
        os.kill(os.getpid(), getattr(signal, signame))

    apply.PHASES[k] = (name, then_signal)
    from netlab.cli import app

    sys.argv = ["netlab", "deploy", file]
    app()


if __name__ == "__main__":
    main()
