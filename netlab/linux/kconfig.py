"""What the running kernel was built with, read without root from /proc/config.gz.

Used where a question must be answered without touching the system (validate's warnings);
the backend confirms by trying (netlab/backends/kernel/shaping.py).
"""

from __future__ import annotations

import functools
import gzip

CONFIG_PATH = "/proc/config.gz"
NETEM = "CONFIG_NET_SCH_NETEM"


@functools.cache
def _config() -> dict[str, str] | None:
    try:
        with gzip.open(CONFIG_PATH, "rt") as f:
            text = f.read()
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.startswith("CONFIG_"):
            out[key] = value
    return out


def config_option(name: str) -> bool | None:
    """True if built in, False if left out, None if unknown (a module, which may or may
    not load, or a kernel that does not publish its configuration)."""
    config = _config()
    if config is None or config.get(name) == "m":
        return None
    return config.get(name) == "y"
