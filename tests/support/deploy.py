"""The one lab tracker behind every deploying fixture (tests/support/plugin.py): it writes
topology files, deploys labs with the real backend (netlab.lab.Lab) and remembers every lab
a test touched, so that all of them are destroyed afterwards, also when the test failed.

Two kinds of lab are tracked:
- labs deployed through `Labs.deploy`/`Labs.lab` (or `Labs.track(plan)`): destroyed by
  netlab's own destroy at the end, which must leave nothing (tests/support/host.py's
  scanner): the teardown fails otherwise;
- labs only named (`write`, `track(name)`): tests that deploy, kill and destroy them their
  own way (the reliability suite); whatever is left of them is removed by force.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.support import host
from tests.support.names import is_ours, renamed_copy, run_prefix, unique_name
from tests.support.netns import wait_links_up

if TYPE_CHECKING:
    from netlab.lab import Lab
    from netlab.plan.model import Plan


class Labs:
    """Writes topology files, deploys labs, and remembers every lab name, for cleanup."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.names: dict[str, str | None] = {}  # lab -> netns name prefix (None: "<lab>-")
        self.plans: list[Plan] = []  # deployed through netlab: destroyed, checked

    # -- labs a test handles itself (named only) --

    def write(self, name: str, text: str, prefix: str | None = None) -> Path:
        """Topology `text` as file <tmp>/<name>.toml; lab `name` is tracked."""
        assert is_ours(name), f"{name!r}: not a name of this run (tests/support/names.py)"
        self.track(name, prefix)
        path = self.tmp / f"{name}.toml"
        path.write_text(text)
        return path

    def track(self, lab: str | Plan, prefix: str | None = None) -> None:
        """Remember lab `lab` (a name, or a compiled plan: destroyed and checked)."""
        if isinstance(lab, str):
            self.names[lab] = prefix
        else:
            self.plans.append(lab)

    # -- labs deployed here --

    def deploy(self, source: Plan | Path, **kw: Any) -> Lab:
        """Lab.deploy(source, **kw), the lab tracked first (a failed deploy is cleaned up
        too). A file is compiled here, so that its lab is known even if deploy fails."""
        from netlab.api import load
        from netlab.lab import Lab

        plan = source if not isinstance(source, Path) else load(source).plan
        assert is_ours(plan.lab) or all(is_ours(n) for n in plan.namespaces), \
            f"{plan.lab!r}: a fixed name collides with another run (tests/support/names.py)"
        self.track(plan)
        return Lab.deploy(source, **kw)

    def lab(self, source: Path | str, *, wait: bool = True) -> Plan:
        """Deploy a lab for a test and return its plan (links up when `wait`):
        - TOML text with a `{name}` placeholder: under a fresh unique name;
        - other TOML text: its own lab name, which must be this run's (run_prefix);
        - a file: its lab name is kept (tests say `--lab t4a`: use a private NETLAB_RUN_DIR,
          fixture `run_dir`), its namespaces, global, get this run's prefix
          ("t4a" -> "t4<token>a")."""
        force = False
        if isinstance(source, str):
            name = unique_name("t") if "{name}" in source else tomllib.loads(source)["lab"]["name"]
            path = self.tmp / f"{name}.toml"
            path.write_text(source.replace("{name}", name))
        else:
            name = tomllib.loads(source.read_text())["lab"]["name"]
            prefix = run_prefix(name[:2]) + name[2:]
            path = renamed_copy(source, name, self.tmp, prefix=prefix)
            force = True  # leftovers of an interrupted run of this private state directory
        plan = self.deploy(path, force=force).plan
        if wait:
            wait_links_up(plan)
        return plan

    # -- the end --

    def cleanup(self) -> list[str]:
        """Destroy every lab deployed here, then remove by force whatever any tracked lab
        left; returns what netlab's own destroy of deployed labs left behind."""
        from netlab.lab import Lab

        left: list[str] = []
        for plan in self.plans:
            try:
                Lab(plan).destroy()
            except Exception as e:  # the scan below says what remains
                left.append(f"{plan.lab}: destroy failed: {e}")
        for plan in self.plans:
            if found := host.settled_leftovers(plan.lab, namespaces=plan.namespaces):
                left += found
                host.force_clean(plan.lab, namespaces=plan.namespaces)
        for name, prefix in self.names.items():
            if host.leftovers(name, prefix):
                host.force_clean(name, prefix)
        return left
