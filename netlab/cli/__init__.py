"""The `netlab` command. Each verb group lives in its own module and registers itself.

Start-up must stay fast: no module imported here may import scapy or pyroute2 at the top
level; verbs import what they need when they run.
"""

from __future__ import annotations

import typer

from netlab.cli import lab as lab_verbs
from netlab.cli import labs, links, probes, topo

app = typer.Typer(
    name="netlab",
    help="Network labs in Linux namespaces, from a small TOML file, proved with real packets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

for module in (topo, lab_verbs, probes, links, labs):
    module.register(app)


def main() -> None:
    app()
