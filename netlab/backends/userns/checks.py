"""What keeps this machine from giving a user a user namespace, with the exact fix."""

from __future__ import annotations

import sys
from pathlib import Path

# Module constants, so that tests can point them at files of their own.
APPARMOR_SYSCTL = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns"
MAX_USERNS_SYSCTL = "/proc/sys/user/max_user_namespaces"
DEBIAN_SYSCTL = "/proc/sys/kernel/unprivileged_userns_clone"
PROFILE = "/etc/apparmor.d/netlab"


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def blocked() -> str | None:
    """A machine setting that forbids unprivileged user namespaces outright, as a message
    with the fix (None: nothing known forbids them)."""
    if _read(MAX_USERNS_SYSCTL) == "0":
        return ("this machine allows no user namespaces (user.max_user_namespaces = 0)."
                " Fix (as root): sysctl -w user.max_user_namespaces=10000, and to keep it:"
                " echo user.max_user_namespaces=10000 > /etc/sysctl.d/60-netlab.conf")
    if _read(DEBIAN_SYSCTL) == "0":
        return ("this kernel forbids unprivileged user namespaces"
                " (kernel.unprivileged_userns_clone = 0). Fix (as root): sysctl -w"
                " kernel.unprivileged_userns_clone=1, and to keep it: echo"
                " kernel.unprivileged_userns_clone=1 > /etc/sysctl.d/60-netlab.conf")
    return None


def apparmor_restricts() -> bool:
    """Ubuntu 23.10+ (kernel.apparmor_restrict_unprivileged_userns = 1): a user namespace
    can be made, but a program without an AppArmor profile allowing `userns` gets no
    capabilities in it. Whether netlab's interpreter has such a profile shows only when
    the holder tries (its mounts then fail): the fix is added to that error."""
    return _read(APPARMOR_SYSCTL) == "1"


def apparmor_fix() -> str:
    """The exact fix for the AppArmor restriction: a profile that lets the Python
    interpreter running netlab make user namespaces (or, for the whole machine, the
    sysctl)."""
    exe = str(Path(sys.executable).resolve())
    return (
        "Ubuntu's AppArmor restricts unprivileged user namespaces"
        " (kernel.apparmor_restrict_unprivileged_userns = 1), and the Python running netlab"
        f" ({exe}) has no profile that allows them. Fix (as root, once), a profile for it:\n"
        f"  printf 'abi <abi/4.0>,\\ninclude <tunables/global>\\nprofile netlab {exe}"
        " flags=(unconfined) {\\n  userns,\\n}\\n'"
        f" > {PROFILE} && apparmor_parser -r {PROFILE}\n"
        "  or, for every program on the machine: sysctl -w"
        " kernel.apparmor_restrict_unprivileged_userns=0 (kept with a line in"
        " /etc/sysctl.d/60-netlab.conf)")
