"""What every verb shares: printing people-facing errors and exiting with their code."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from netlab.cli.plain import said
from netlab.errors import NetlabError, require_root

if TYPE_CHECKING:
    from netlab.lab import Lab


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn NetlabError into its message on stderr and its exit code; no traceback."""
    try:
        yield
    except (NetlabError, KeyboardInterrupt) as e:  # Ctrl-C, SIGTERM/SIGHUP: "interrupted"
        raise typer.Exit(said(e)) from None


def print_warnings(file: str, warnings: list) -> None:  # type: ignore[type-arg]
    for w in warnings:
        print(w.render(file), file=sys.stderr)


def attached(lab: str | None, verb: str) -> Lab:
    """The deployed lab a root-only verb acts on (--lab, or the only one)."""
    from netlab.lab import Lab

    require_root(verb)
    return Lab.attach(lab)
