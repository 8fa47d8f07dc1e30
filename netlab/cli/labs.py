"""`netlab labs`: the bundled classroom labs, and each one's lesson; `netlab labs FILE`
shows the lesson of a teacher's own topology file (its [lab] lesson text)."""

from __future__ import annotations

from typing import Annotated

import typer

from netlab.cli.common import friendly_errors

NO_LESSON = ('(this lab has no lesson text: a teacher adds one to the file as'
             ' lesson = """...""" under [lab])')


def labs(
    name: Annotated[str | None, typer.Argument(
        help="A bundled lab's name, or a topology file (a path: with a '/' or ending in"
             " '.toml'): print its file's path and its lesson.",
        show_default=False)] = None,
) -> None:
    """List the bundled labs with one line each; with NAME or FILE, show that lab's lesson."""
    from netlab.topology import library

    with friendly_errors():
        if name is not None and library.is_path(name):
            _show_file(name)
            return
        if name is not None:
            lab = library.find(name)
            typer.echo(f"# {lab.name}: {lab.description}\n# file: {lab.path}")
            if lab.lesson is not None:
                typer.echo(f"# lesson: {lab.lesson}")
            typer.echo("")
            typer.echo(lab.lesson_text().rstrip() or NO_LESSON)
            return
        found = library.bundled()
        if not found:
            typer.echo("no bundled labs found (reinstall netlab)", err=True)
            raise typer.Exit(1)
        width = max(len(lab.name) for lab in found)
        for lab in found:
            typer.echo(f"{lab.name:<{width}}  {lab.description}")
        typer.echo(f"\n{len(found)} labs. `netlab deploy NAME` starts one; "
                   "`netlab labs NAME` (or `netlab labs ./FILE.toml`) shows its lesson.")


def _show_file(text: str) -> None:
    """A teacher's own file: its [lab] name, description and lesson, read as every verb
    reads a topology (the loader's checks), without validating the rest: a student may
    read the lesson of a lab that does not validate yet."""
    from netlab.topology import library, loader

    path = library.resolve(text)
    lab = loader.read_table(path).get("lab")
    lab = lab if isinstance(lab, dict) else {}

    def string(key: str) -> str:
        value = lab.get(key, "")
        return value if isinstance(value, str) else ""  # a wrong type: validate says so

    typer.echo(f"# {string('name') or path.stem}: {string('description')}\n# file: {path}")
    typer.echo("")
    typer.echo(string("lesson").strip() or NO_LESSON)


def register(app: typer.Typer) -> None:
    app.command()(labs)
