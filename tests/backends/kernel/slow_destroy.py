"""Run `netlab destroy LAB` with a pause right after it restored (or decided not to
restore) the host's IPv4 forwarding, while its own state is still there.

    python slow_destroy.py SECONDS LAB

Two of these at once keep both labs' state visible while each decides whether the host
still needs IPv4 forwarding: the race the forwarding lock exists for. Nothing else changes.
"""

from __future__ import annotations

import sys
import time


def main() -> None:
    pause, lab = float(sys.argv[1]), sys.argv[2]
    from netlab.backends.kernel import hostsettings

    real = hostsettings.release_lab

    def slow(name: str) -> None:
        real(name)
        time.sleep(pause)

    hostsettings.release_lab = slow  # type: ignore[assignment]
    from netlab.cli import app

    sys.argv = ["netlab", "destroy", lab]
    app()


if __name__ == "__main__":
    main()
