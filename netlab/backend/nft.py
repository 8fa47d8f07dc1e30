"""nftables: a node's ruleset loaded in one atomic transaction (`nft -f -`) inside its
namespace, and the host-side table of an uplink. The tables are netlab's own."""

from __future__ import annotations

import shutil
import subprocess

from netlab.errors import NetlabError
from netlab.netns import entered


class NftError(NetlabError):
    pass


def nft_path() -> str | None:
    return shutil.which("nft")


def missing_nft_message(nodes: list[str]) -> str:
    return ("nodes " + ", ".join(nodes) + " need nftables (NAT or port forwarding) but the `nft`"
            " command is not installed (Debian/Ubuntu: apt-get install nftables); nothing was"
            " built")


def load(ruleset: str, netns: str | None, what: str) -> None:
    """Load `ruleset` atomically; in `netns` (a child forked from this thread inherits the
    thread's namespace), or in the host's namespace when netns is None."""
    nft = nft_path()
    if nft is None:
        raise NftError(missing_nft_message([what]))
    if netns is None:
        res = subprocess.run([nft, "-f", "-"], input=ruleset, text=True, capture_output=True)
    else:
        with entered(netns):
            res = subprocess.run([nft, "-f", "-"], input=ruleset, text=True,
                                 capture_output=True)
    if res.returncode != 0:
        raise NftError(f"nft rejected the ruleset of {what}: {res.stderr.strip()}")


def delete_host_table(family: str, table: str) -> bool:
    """Delete a table in the host's namespace; False if it was not there."""
    nft = nft_path()
    if nft is None:
        return False
    res = subprocess.run([nft, "delete", "table", family, table], capture_output=True,
                         text=True)
    return res.returncode == 0


def host_table_exists(family: str, table: str) -> bool:
    nft = nft_path()
    if nft is None:
        return False
    res = subprocess.run([nft, "list", "table", family, table], capture_output=True, text=True)
    return res.returncode == 0
