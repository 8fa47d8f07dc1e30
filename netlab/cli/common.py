"""What every verb shares: printing people-facing errors and exiting with their code."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from netlab.errors import NetlabError, TopologyError, report_interrupted, require_root

if TYPE_CHECKING:
    from netlab.lab import Lab


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn NetlabError into its message on stderr and its exit code; no traceback."""
    try:
        yield
    except TopologyError as e:
        typer.echo(e.render(), err=True)
        raise typer.Exit(e.exit_code) from None
    except NetlabError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(e.exit_code) from None
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM/SIGHUP (netlab.cli.catch_signals)
        report_interrupted()
        raise typer.Exit(130) from None


def print_warnings(file: str, warnings: list) -> None:  # type: ignore[type-arg]
    for w in warnings:
        print(w.render(file), file=sys.stderr)


def attached(lab: str | None, verb: str) -> Lab:
    """The deployed lab a root-only verb acts on (--lab, or the only one)."""
    from netlab.lab import Lab

    require_root(verb)
    return Lab.attach(lab)
