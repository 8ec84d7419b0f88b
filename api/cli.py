"""The `delivery` command line: demo data, the portfolio table, rebuilds, the worker and the server."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
import time
from collections.abc import Sequence

from api.terminal import printable
from delivery.application import DeliveryApplication


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="delivery",
        description="Event-sourced project delivery tracker. The store is chosen by "
        "DELIVERY_DATABASE_URL (default sqlite:///var/delivery.sqlite3).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="load the demo portfolio")
    demo.add_argument("--if-empty", action="store_true", help="do nothing if the store has events")
    demo.set_defaults(handler=_demo)

    status = commands.add_parser("status", help="print the portfolio as a table")
    status.add_argument("--stage")
    status.add_argument("--health", choices=["red", "amber", "green", "no_plan"])
    status.add_argument("--client")
    status.set_defaults(handler=_status)

    rebuild = commands.add_parser(
        "rebuild", help="build every view anew from event zero beside the old ones, then swap them in",
    )
    rebuild.add_argument("--processes", type=int,
                         help="processes folding at once: this one and forked helpers (default: one per core, "
                              "up to 4; 1 folds here alone)")
    rebuild.set_defaults(handler=_rebuild)

    worker = commands.add_parser("worker", help="follow the store and keep the views current")
    worker.add_argument("--poll", type=float, default=0.5, help="seconds between polls")
    worker.add_argument("--metrics-port", type=int, default=None, metavar="PORT",
                        help="serve Prometheus metrics at http://127.0.0.1:PORT/metrics")
    worker.set_defaults(handler=_worker)

    try:
        from api import cli_server  # type: ignore[attr-defined]  # the HTTP server, when installed
    except ImportError:
        pass
    else:
        cli_server.add_commands(commands)
    from api import cli_audit  # verify, checkpoint, export, import, replay, diff
    cli_audit.add_commands(commands)
    from api import cli_templates  # templates list|show|check, create
    cli_templates.add_commands(commands)

    args = parser.parse_args(argv)
    from projections.store import ApplyFailed

    try:
        result: int = args.handler(args)
    except ApplyFailed as exc:
        print(f"delivery {args.command}: {exc}. The store is not what the views were built from: "
              "`delivery verify` names what changed.", file=sys.stderr)
        return 3
    return result


class ProgressLine:
    """One line on stderr that counts up, with a rate; on a pipe, a line every tenth of the way."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.started = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.shown_at = 0.0
        self.next_tenth = 0

    def __call__(self, done: int, total: int, note: str = "") -> None:
        now = time.monotonic()
        finished = done >= total
        if self.tty:
            if not finished and now - self.shown_at < 0.1:
                return
        else:
            tenth = 10 * done // max(total, 1)
            if not finished and tenth < self.next_tenth:
                return
            self.next_tenth = tenth + 1
        self.shown_at = now
        elapsed = max(now - self.started, 1e-9)
        text = f"{self.label}: {done:,}/{total:,} ({done / elapsed:,.0f}/s) {note}".rstrip()
        if self.tty:
            sys.stderr.write("\r\033[K" + text + ("\n" if finished else ""))
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()


def _demo(args: argparse.Namespace) -> int:
    from delivery.demo import demo_is_loaded, load_demo
    from projections.service import ReadSide

    app = DeliveryApplication()
    try:
        if args.if_empty and demo_is_loaded(app):
            print("The store already has events; demo not loaded again.", file=sys.stderr)
        else:
            ids = load_demo(app, progress=ProgressLine("Recording the demo portfolio's commands"))
            print(f"Loaded {len(ids)} demo projects.", file=sys.stderr)
        with ReadSide(app) as views:
            views.catch_up(progress=ProgressLine("Updating views"))
    finally:
        app.close()
    return 0


def _status(args: argparse.Namespace) -> int:
    from delivery import clock
    from projections.service import ReadSide

    app = DeliveryApplication()
    try:
        with ReadSide(app) as views:
            views.catch_up()
            rows = views.portfolio_all(
                now=clock.now(), stage=args.stage, health=args.health, client=args.client
            )
    finally:
        app.close()
    if not rows:
        print("No projects match." if (args.stage or args.health or args.client) else
              "No projects yet: `delivery demo` loads a demo portfolio.", file=sys.stderr)
        return 0
    header = ("PROJECT", "CLIENT", "STAGE", "HEALTH", "OPEN CRITERIA", "NEXT MILESTONE")
    table = [header] + [
        (
            printable(r.name), printable(r.client), r.stage, r.health, str(r.open_criteria),
            f"{printable(r.next_milestone_title)} ({r.next_milestone_due_on})" if r.next_milestone_title else "-",
        )
        for r in rows
    ]
    widths = [max(_width(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell + " " * (w - _width(cell)) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _width(text: str) -> int:
    """Display width: CJK characters take two columns in a terminal."""
    return sum(2 if "\u2e80" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef" else 1 for ch in text)


def _rebuild(args: argparse.Namespace) -> int:
    from projections.rebuild import cpu_processes
    from projections.service import ReadSide

    # A process that rebuilds and exits: what it has loaded lives to the end, so the collector never looks at it.
    gc.freeze()
    app = DeliveryApplication()
    try:
        with ReadSide(app, rebuild_stale=False) as views:
            started = time.monotonic()
            processes = args.processes if args.processes is not None else cpu_processes()
            count = views.rebuild(progress=ProgressLine("Rebuilding views"), processes=processes)
            elapsed = time.monotonic() - started
            print(f"Rebuilt every view from {count} events in {elapsed:.2f} s "
                  f"({count / max(elapsed, 1e-9):,.0f} events/s).", file=sys.stderr)
    finally:
        app.close()
    return 0


def _worker(args: argparse.Namespace) -> int:
    from projections.worker import run_worker

    code: int = run_worker(poll_seconds=args.poll, metrics_port=args.metrics_port)
    # Everything is stopped and closed: leave without the interpreter's teardown of every module and
    # object, which took 0.4 s of the one second a SIGTERM allows (0.6 s in all, 0.9 s on a loaded machine).
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
