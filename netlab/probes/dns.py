"""Asking a node's own resolver: `getent ahosts NAME` run in the node by the lab's backend
(Backend.run, as `netlab exec` runs commands), so this is exactly what a program on the
node sees: hosts-file names, search domains, the node's nameservers. No shell: the name is
one argv element.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from netlab import backends

if TYPE_CHECKING:
    from netlab.plan.model import Plan


@dataclass
class DnsResult:
    node: str
    name: str
    addresses: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.addresses)

    def seen(self) -> str:
        if self.addresses:
            return f"{self.name} -> {', '.join(self.addresses)}"
        return f"{self.name} does not resolve ({self.error or 'no answer'})"


def resolve(plan: Plan, node: str, name: str, timeout: float = 1.0) -> DnsResult:
    """`name` as node `node` of the deployed lab resolves it."""
    result = DnsResult(node, name)
    if name.startswith("-"):  # would read as a getent option
        result.error = "invalid name"
        return result
    env = dict(os.environ, RES_OPTIONS=f"timeout:{max(1, round(timeout))} attempts:1")
    try:
        proc = backends.for_plan(plan).run(
            plan, plan.node(node), ["getent", "ahosts", name],
            capture_output=True, text=True, env=env, timeout=timeout * 4 + 2,
        )
    except subprocess.TimeoutExpired:
        result.error = "resolver timed out"
        return result
    if proc.returncode == 2:
        result.error = "not found"
    elif proc.returncode != 0:
        result.error = (proc.stderr.strip() or f"getent exit {proc.returncode}")
    seen: dict[str, None] = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if parts:
            seen.setdefault(parts[0])
    result.addresses = list(seen)
    return result
