"""What every verb shares: printing people-facing errors and exiting with their code."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import typer

from netlab.errors import NetlabError, TopologyError

T = TypeVar("T")


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
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None


def run(fn: Callable[[], T]) -> T:
    with friendly_errors():
        return fn()


def print_warnings(file: str, warnings: list) -> None:  # type: ignore[type-arg]
    for w in warnings:
        print(w.render(file), file=sys.stderr)
