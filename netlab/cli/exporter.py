"""`netlab export LAB --to containerlab [-o FILE]`: a lab in another tool's format
(netlab.exporters; docs/import.md, "Export"). Needs only the compiled plan, no root."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from netlab.cli.common import friendly_errors, print_warnings

if TYPE_CHECKING:
    from netlab.plan.model import Plan


def _plan(lab: str) -> tuple[Plan, str]:
    """The plan meant by LAB, and what it came from: a topology file (a path), a deployed
    lab (its saved plan: what runs), or a bundled lab."""
    from netlab.api import load
    from netlab.topology.library import find, is_path, resolve

    if is_path(lab):
        topo = load(resolve(lab))
        print_warnings(topo.path, topo.warnings)
        return topo.plan, topo.path
    from netlab.names import lab_name_problem

    if lab_name_problem(lab) is None:
        from netlab.state.layout import StateError, list_labs
        from netlab.state.plans import read_plan

        try:
            deployed = lab in list_labs()
        except (OSError, StateError):
            deployed = False  # no readable run directory: nothing deployed to export
        if deployed:
            return read_plan(lab), f"deployed lab {lab}"
    path = find(lab).path
    return load(path).plan, str(path)


def export(
    lab: Annotated[str, typer.Argument(
        help="A deployed lab's name, a bundled lab's name, or a topology file (a path: with"
             " a '/' or ending in .toml).", show_default=False)],
    to: Annotated[str, typer.Option("--to", help="Format: containerlab.")] = "containerlab",
    output: Annotated[str | None, typer.Option(
        "-o", "--output", help="File to write ('-': print it, without the hosts"
        " file; for a lab without other files)."
        " Default: LAB.clab.yml here; files go to STEM.files/ beside it.",
        show_default=False)] = None,
    image: Annotated[list[str] | None, typer.Option(
        "--image", help="Image of every node (IMAGE), or of one ([NODE=]IMAGE); repeat."
        " Default: FRR's image for nodes running FRR, nicolaka/netshoot for the others.",
        show_default=False)] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Overwrite the output file and its files if they exist.")] = False,
) -> None:
    """Write a lab in another tool's format; say what does not carry over."""
    from netlab.errors import UsageError
    from netlab.exporters import FORMATS, default_output, write
    from netlab.exporters import export as export_

    with friendly_errors():
        if to not in FORMATS:
            raise UsageError(f"--to {to}: unknown format (formats: {', '.join(FORMATS)})")
        images: dict[str, str] = {}
        for spec in image or []:
            node, _, img = spec.rpartition("=")
            if not img or any(c.isspace() for c in spec):
                raise UsageError(f"--image {spec!r}: give IMAGE or NODE=IMAGE")
            images[node] = img
        plan, source = _plan(lab)
        unknown = sorted(set(images) - {n.name for n in plan.nodes} - {""})
        if unknown:
            raise UsageError(f"--image: no node {', '.join(unknown)} in lab {plan.lab}")
        out = default_output(plan, to) if output in (None, "-") else Path(output)
        exported = export_(plan, to, out, images, optional_files=output != "-")
        print_warnings(source, exported.notes)
        if output == "-":
            if exported.files:
                raise UsageError(f"lab {plan.lab} has {len(exported.files)} file(s) to bind;"
                                 " give -o FILE (they are written beside it)")
            sys.stdout.write(exported.text)
            return
        written = write(exported, out, force)
        extra = f" and {len(written) - 1} file(s) under {out.parent}" if len(written) > 1 \
            else ""
        typer.echo(f"wrote {out}{extra}", err=True)


def register(app: typer.Typer) -> None:
    app.command("export")(export)
