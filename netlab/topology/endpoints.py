"""THE parser for the names people give a link end or a target: `node` or `node:ifname`.

Used by the topology compiler (links' endpoints, expectations' targets), the plan's
lookups (netlab.plan.lookup: wires, probe targets, link control). Syntax only: whether
the name exists, and whether the interface name is valid or exists, is the caller's
question. Not for `host:port` text (NAT forwards) nor IP addresses (IPv6 has ':'):
callers that take an address try it first.
"""

from __future__ import annotations

from dataclasses import dataclass

from netlab.errors import UsageError


class EndpointError(UsageError, ValueError):
    """Text that is not `NODE` or `NODE:IFNAME`. A UsageError, so the CLI shows it without a
    traceback (exit 2); a ValueError, for code that treats any bad value alike.

    `reason` and `fix` are apart for a topology Problem (message, fix); str() joins them.
    `name`: what stands before the first ':' (maybe empty), for "this name was used"."""

    def __init__(self, text: str, reason: str, fix: str) -> None:
        self.text = text
        self.name = text.partition(":")[0]
        self.reason = reason
        self.fix = fix
        super().__init__(f"{reason}; {fix}")


@dataclass(frozen=True)
class Endpoint:
    name: str  # node or switch
    ifname: str | None  # None when the text names no interface

    def __str__(self) -> str:
        return self.name if self.ifname is None else f"{self.name}:{self.ifname}"


def parse_endpoint(text: str) -> Endpoint:
    """'pc1' -> Endpoint('pc1', None); 'pc1:eth0' -> Endpoint('pc1', 'eth0').

    Refused (EndpointError): empty text, an empty name (':eth0'), an empty interface name
    ('pc1:'), more than one ':' ('pc1:eth0:1')."""
    name, sep, ifname = text.partition(":")
    if not text:
        raise EndpointError(text, "endpoint is empty", 'write NODE or NODE:IFNAME, e.g. "pc1"')
    if not name:
        raise EndpointError(text, f"endpoint {text!r} has no node name before ':'",
                            f'write NODE:IFNAME, e.g. "pc1{text}"')
    if sep and not ifname:
        raise EndpointError(text, f"endpoint {text!r} has an empty interface name after ':'",
                            f'write "{name}" or "{name}:IFNAME"')
    if ":" in ifname:
        raise EndpointError(text, f"endpoint {text!r} has more than one ':'",
                            f'write "{name}" or "{name}:IFNAME" (an interface name has no \':\')')
    return Endpoint(name, ifname if sep else None)
