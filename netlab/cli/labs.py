"""`netlab labs`: the bundled classroom labs, and each one's lesson."""

from __future__ import annotations

from typing import Annotated

import typer

from netlab.cli.common import friendly_errors


def labs(
    name: Annotated[str | None, typer.Argument(
        help="A bundled lab: print its file's path and its lesson.", show_default=False)] = None,
) -> None:
    """List the bundled labs with one line each; with NAME, show that lab's lesson."""
    from netlab.topology import library

    with friendly_errors():
        if name is not None:
            lab = library.find(name)
            typer.echo(f"# {lab.name}: {lab.description}\n# file: {lab.path}")
            if lab.lesson is not None:
                typer.echo(f"# lesson: {lab.lesson}")
            typer.echo("")
            typer.echo(lab.lesson_text().rstrip() or "(this lab has no lesson text)")
            return
        found = library.bundled()
        if not found:
            typer.echo("no bundled labs found (reinstall netlab)", err=True)
            raise typer.Exit(1)
        width = max(len(lab.name) for lab in found)
        for lab in found:
            typer.echo(f"{lab.name:<{width}}  {lab.description}")
        typer.echo(f"\n{len(found)} labs. `netlab deploy NAME` starts one; "
                   "`netlab labs NAME` shows its lesson.")


def register(app: typer.Typer) -> None:
    app.command()(labs)
