"""Live-link verbs: `link` (down, up, set, show) and `capture`."""

from __future__ import annotations

import signal
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from netlab.cli.common import deployed_plan, friendly_errors
from netlab.errors import UsageError

if TYPE_CHECKING:
    from netlab.plan.model import Plan, ShapingPlan
    from netlab.plan.wires import Wire

LabOpt = Annotated[str | None, typer.Option(
    "--lab", "-l", help="Lab name (default: the only deployed lab).")]
OFF = ("off", "none")


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
    from netlab.plan import wires

    with friendly_errors():
        plan = deployed_plan(lab, "link")
        wire = wires.find(plan, a, b)
        values = {"rate": rate, "delay": delay, "jitter": jitter, "loss": loss}
        if action is not Action.set and (any(v is not None for v in values.values())
                                         or clear or from_):
            raise UsageError(f"--rate/--delay/--jitter/--loss/--from/--clear go with `set`, "
                             f"not `{action.value}`")
        if action is Action.show:
            _show(plan, wire)
        elif action in (Action.down, Action.up):
            from netlab.backends.kernel import linkctl

            linkctl.set_up(plan, wire, action is Action.up)
            typer.echo(f"{wire.label}: {action.value}")
        else:
            _set(plan, wire, values, from_, clear)


def _set(plan: Plan, wire: Wire, values: dict[str, str | None], from_: str | None,
         clear: bool) -> None:
    from netlab.backends.kernel import linkctl
    from netlab.compile import linkprops
    from netlab.state import linkstate

    if not clear and all(v is None for v in values.values()):
        raise UsageError("say what to set: --rate, --delay, --jitter, --loss or --clear")
    sides = [wire.a, wire.b]
    if from_ is not None:
        sides = [s for s in sides if from_ in (s.owner, s.label)]
        if not sides:
            raise UsageError(f"--from {from_}: not an end of {wire.label}")
    new: dict[str, ShapingPlan | None] = {}
    for side in sides:
        current = None if clear else linkstate.shaping(plan.lab, side.end)
        merged = _merge(current, values)
        shaping, errors = linkprops.shaping(merged)
        if errors:
            key, e = errors[0]
            raise UsageError(f"--{key}: {e}; {e.fix}")
        new[side.owner] = shaping
    linkctl.set_shaping(plan, wire, new)
    for side in sides:
        typer.echo(f"{side.label} sends: {linkprops.describe(new[side.owner]) or 'unshaped'}")


def _merge(current: ShapingPlan | None, values: dict[str, str | None]) -> dict[str, object]:
    """Current shaping as property text, with the given options replacing it ("off": none)."""
    from netlab.compile import linkprops

    out: dict[str, object] = {}
    if current is not None:
        if current.rate_bit:
            out["rate"] = linkprops.format_rate(current.rate_bit)
        if current.delay_ms:
            out["delay"] = linkprops.format_time(current.delay_ms)
        if current.jitter_ms:
            out["jitter"] = linkprops.format_time(current.jitter_ms)
        if current.loss_pct:
            out["loss"] = f"{current.loss_pct}%"
    for key, value in values.items():
        if value is None:
            continue
        if value.strip().lower() in OFF:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def _show(plan: Plan, wire: Wire) -> None:
    from netlab.backends.kernel import linkctl, shaping
    from netlab.compile import linkprops

    typer.echo(wire.label)
    for side, peer in ((wire.a, wire.b), (wire.b, wire.a)):
        e = side.end
        props = shaping.read_props(e.netns, e.ifname, (peer.end.netns, peer.end.ifname))
        state = "up" if linkctl.is_up(e.netns, e.ifname) else "down"
        typer.echo(f"  {side.label:<20} {state:<5} sends: "
                   f"{linkprops.describe(props) or 'unshaped'}")


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
    from netlab.plan import wires
    from netlab.probes import capture as cap

    with friendly_errors():
        plan = deployed_plan(lab, "capture")
        netns, ifname = wires.interface(plan, where)
        # `kill` ends a capture as cleanly as Ctrl-C (the pcap is flushed per packet anyway).
        signal.signal(signal.SIGTERM, _interrupt)
        into = f" into {write}" if write is not None else ""
        n = cap.capture(netns, ifname, write=write, count=count, bpf=bpf,
                        echo=typer.echo, timeout=seconds, ready=lambda: typer.echo(
                            f"capturing on {where}{into} (Ctrl-C to stop)", err=True))
        typer.echo(f"{n} packet(s) captured" + (f" into {write}" if write else ""), err=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def register(app: typer.Typer) -> None:
    app.command()(link)
    app.command()(capture)
