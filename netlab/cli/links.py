"""Live-link verbs: `link` (down, up, set, show) and `capture`."""

from __future__ import annotations

import signal
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from netlab.cli.common import attached, friendly_errors
from netlab.errors import UsageError

if TYPE_CHECKING:
    from netlab.lab import Lab
    from netlab.plan.model import ShapingPlan

LabOpt = Annotated[str | None, typer.Option(
    "--lab", "-l", help="Lab name (default: the only deployed lab).")]


class Action(StrEnum):
    show = "show"
    down = "down"
    up = "up"
    set = "set"


def link(
    a: Annotated[str, typer.Argument(
        metavar="A", help="One end: NODE or NODE:IFNAME.", show_default=False)],
    b: Annotated[str, typer.Argument(
        metavar="B", help="Other end: NODE, NODE:IFNAME or a switch.", show_default=False)],
    action: Annotated[Action, typer.Argument(
        metavar="[show|down|up|set]", help="What to do (default: show).",
        show_default=False)] = Action.show,
    lab: LabOpt = None,
    rate: Annotated[str | None, typer.Option(help='Rate limit, e.g. "10mbit" ("off": none).')]
    = None,
    delay: Annotated[str | None, typer.Option(help='Added delay, e.g. "20ms" (needs netem).')]
    = None,
    jitter: Annotated[str | None, typer.Option(help='Delay variation, e.g. "5ms".')] = None,
    loss: Annotated[str | None, typer.Option(help='Random loss, e.g. "1%".')] = None,
    from_: Annotated[str | None, typer.Option(
        "--from", help="Change only what this end sends (default: both directions).")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove all shaping first.")] = False,
) -> None:
    """Take the link between A and B down or up, change its rate/delay/jitter/loss, or show it.

    Shaping applies to what each end sends; `--from NODE` changes one direction only.
    "off" removes one property, --clear all of them. Examples:

    netlab link r1 r2 down;  netlab link pc1 lan set --rate 1mbit --loss 2%;
    netlab link r1:eth1 r2 set --from r1 --rate 512kbit;  netlab link r1 r2 set --clear
    """
    with friendly_errors():
        handle = attached(lab, "link")
        handle.wire(a, b)  # an unknown end is the first thing to say
        values = {"rate": rate, "delay": delay, "jitter": jitter, "loss": loss}
        if action is not Action.set and (any(v is not None for v in values.values())
                                         or clear or from_):
            raise UsageError(f"--rate/--delay/--jitter/--loss/--from/--clear go with `set`, "
                             f"not `{action.value}`")
        if action is Action.show:
            _show(handle, a, b)
        elif action in (Action.down, Action.up):
            wire = handle.link_up(a, b, action is Action.up)
            typer.echo(f"{wire.label}: {action.value}")
        else:
            for side, shaping in handle.link_set(a, b, values, from_, clear):
                typer.echo(f"{side.label} sends: {_describe(shaping)}")


def _describe(shaping: ShapingPlan | None) -> str:
    from netlab.compile import linkprops

    return linkprops.describe(shaping) or "unshaped"


def _show(handle: Lab, a: str, b: str) -> None:
    typer.echo(handle.wire(a, b).label)
    for side, now in handle.link_state(a, b):
        state = "up" if now.up else "down"
        typer.echo(f"  {side.label:<20} {state:<5} sends: {_describe(now.sends)}")


def capture(
    where: Annotated[str, typer.Argument(
        help="NODE:IFNAME (or SWITCH:PORT, or SWITCH:br0 for the whole segment).",
        show_default=False)],
    lab: LabOpt = None,
    write: Annotated[Path | None, typer.Option(
        "-w", "--write", help="Write packets to this pcap file (Wireshark opens it).")] = None,
    count: Annotated[int | None, typer.Option(
        "--count", "-c", min=1, help="Stop after this many packets.")] = None,
    bpf: Annotated[str | None, typer.Option(
        "--filter", "-f", help='BPF filter as in tcpdump, e.g. "icmp or tcp port 80".')] = None,
    seconds: Annotated[float | None, typer.Option(
        "--seconds", min=0.01, help="Stop after this many seconds.")] = None,
) -> None:
    """Capture packets on a lab interface: one line per packet, as tcpdump -n prints it,
    or a pcap file with -w. Times are the kernel's (the stamps tcpdump sees).

    Ctrl-C ends it cleanly (the pcap file is complete).
    """
    with friendly_errors():
        handle = attached(lab, "capture")
        # `kill` ends a capture as cleanly as Ctrl-C (the pcap is flushed per packet anyway).
        signal.signal(signal.SIGTERM, _interrupt)
        into = f" into {write}" if write is not None else ""
        n = handle.capture(where, write=write, count=count, bpf=bpf, echo=typer.echo,
                           timeout=seconds, ready=lambda: typer.echo(
                               f"capturing on {where}{into} (Ctrl-C to stop)", err=True))
        typer.echo(f"{n} packet(s) captured" + (f" into {write}" if write else ""), err=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def register(app: typer.Typer) -> None:
    app.command()(link)
    app.command()(capture)
