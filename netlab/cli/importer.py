"""`netlab import PATH [-o FILE]`: a Kathará lab or containerlab topology as a netlab
topology file (netlab.importers; docs/import.md)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from netlab.cli.common import friendly_errors, print_warnings


def import_(
    path: Annotated[Path, typer.Argument(
        help="A Kathará lab directory (with lab.conf) or a containerlab *.clab.yml file.",
        show_default=False)],
    output: Annotated[str | None, typer.Option(
        "-o", "--output", help="Topology file to write; '-' prints it. Default: netlab.toml"
        " in the Kathará lab's directory, or NAME.toml next to the .clab.yml.",
        show_default=False)] = None,
    name: Annotated[str | None, typer.Option(
        "--name", help="Lab name (default: from the lab's directory or name: field).",
        show_default=False)] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Overwrite the output file if it exists.")] = False,
) -> None:
    """Write a netlab topology that runs another tool's lab; say what does not map."""
    from netlab.errors import UsageError
    from netlab.importers import convert, format_of

    with friendly_errors():
        if not path.exists():
            raise UsageError(f"{path}: no such file or directory")
        fmt = format_of(path)
        if output == "-":
            out = None
        elif output is not None:
            out = Path(output)
        elif fmt == "kathara":
            out = path / "netlab.toml"
        else:
            name = path.name
            for suffix in (".clab.yml", ".clab.yaml"):
                name = name.removesuffix(suffix)
            out = path.with_name(name + ".toml")
        text, warnings = convert(path, out, name)
        print_warnings(str(path), warnings)
        if out is None:
            sys.stdout.write(text)
            return
        if out.exists() and not force:
            raise UsageError(f"{out} exists; give --force to overwrite it, or -o another"
                             " file")
        if out.is_symlink():
            raise UsageError(f"{out} is a symlink; netlab writes no file through one")
        tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
        try:
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, out)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise UsageError(f"cannot write {out}: {e.strerror or e}") from None
        typer.echo(f"wrote {out}: `netlab validate {out}` checks it, `netlab deploy {out}`"
                   " runs it", err=True)


def register(app: typer.Typer) -> None:
    app.command("import")(import_)
