"""Verbs that need no root: validate, plan, graph, schema."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from netlab.cli.common import friendly_errors, print_warnings
from netlab.errors import NetlabError, UsageError, plural

if TYPE_CHECKING:
    from netlab.api import Topology

FileArg = Annotated[str, typer.Argument(
    help="Topology file (TOML), or a bundled lab's name (`netlab labs` lists them; a path"
         " has a '/' or ends in .toml).", show_default=False)]


def _load(file: str) -> Topology:
    """The topology meant by FILE: a path, or a bundled lab's name, as deploy takes it."""
    from netlab.api import load
    from netlab.topology.library import resolve

    return load(resolve(file))


def validate(file: FileArg) -> None:
    """Check a topology file; list every problem with its key and a fix (exit 2 if any)."""
    with friendly_errors():
        topo = _load(file)
        print_warnings(topo.path, topo.warnings)
        p = topo.plan
        counts = [plural(len(p.nodes), "node"), plural(len(p.switches), "switch"),
                  plural(len(p.veths), "link"), plural(len(p.expect), "expectation")]
        if topo.warnings:
            counts.append(plural(len(topo.warnings), "warning"))
        typer.echo(f"{topo.path}: lab {p.lab!r} is valid: " + ", ".join(counts))


def plan(
    file: FileArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """Show everything deploy would create, without touching the system."""
    from netlab import backends
    from netlab.plan.render import plan_text

    with friendly_errors():
        topo = _load(file)
        print_warnings(topo.path, topo.warnings)
        built = backends.get().built(topo.plan)  # as this user's deploy would make it
        typer.echo(built.to_json() if as_json else plan_text(built), nl=False)


def graph(
    file: FileArg,
    out: Annotated[Path, typer.Option("-o", "--output", help="Output: .dot, .mmd, .svg or .png")],
) -> None:
    """Draw the topology: DOT, Mermaid, or SVG/PNG through Graphviz."""
    from netlab.plan.render import to_dot, to_mermaid

    with friendly_errors():
        suffix = out.suffix.lower()
        if suffix not in (".dot", ".mmd", ".svg", ".png"):
            raise UsageError(f"unknown output type {suffix or '(none)'!r} for {out}: "
                             "use .dot, .mmd, .svg or .png")
        dot = shutil.which("dot") if suffix in (".svg", ".png") else None
        if suffix in (".svg", ".png") and dot is None:
            raise UsageError(
                f"drawing {suffix} needs Graphviz's `dot`, which is not installed or not on "
                "PATH (Debian: apt-get install graphviz); .dot and .mmd need nothing"
            )
        topo = _load(file)
        print_warnings(topo.path, topo.warnings)
        try:
            if suffix == ".mmd":
                out.write_text(to_mermaid(topo.graph))
            elif dot is None:
                out.write_text(to_dot(topo.graph))
            else:
                done = subprocess.run([dot, f"-T{suffix[1:]}", "-o", str(out)],
                                      input=to_dot(topo.graph), text=True, capture_output=True)
                if done.returncode != 0:
                    raise NetlabError(f"Graphviz `dot` failed to write {out}: "
                                      + (done.stderr.strip() or f"exit {done.returncode}"))
        except OSError as e:
            raise NetlabError(f"cannot write {out}: {e.strerror or e}") from None
        typer.echo(f"wrote {out}")


def schema() -> None:
    """Print the JSON Schema of topology files (for taplo / Even Better TOML)."""
    from netlab.topology.schema import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))


def register(app: typer.Typer) -> None:
    for fn in (validate, plan, graph, schema):
        app.command()(fn)
