"""netlab: network labs in Linux namespaces, from a small TOML file."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from netlab.api import Topology, load

__all__ = ["Topology", "load", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy, so that `import netlab` (and `netlab --help`) stays cheap.
    if name in ("load", "Topology"):
        from netlab import api

        return getattr(api, name)
    raise AttributeError(name)
