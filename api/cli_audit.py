"""The auditors' and operators' commands: verify, keygen, checkpoint, export, import, backup, restore,
replay --check, diff, receipt verify."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from api.terminal import printable
from delivery import clock
from delivery.errors import DeliveryError


def add_commands(commands: Any) -> None:
    verify = commands.add_parser("verify", help="recompute the hash chains from the stored events and compare")
    verify.add_argument("--project", metavar="ID", help="only this project's chain")
    verify.add_argument("--checkpoint", type=Path, metavar="FILE", help="also prove the history up to it")
    verify.add_argument("--public-key", type=Path, metavar="FILE", help="the checkpoint signer's public key")
    verify.add_argument("--json", action="store_true", help="print the verdict as JSON")
    verify.add_argument("--no-catch-up", action="store_true",
                        help="do not link new events first (read only; they count as not yet linked)")
    verify.set_defaults(handler=_verify)

    keygen = commands.add_parser("keygen", help="make an Ed25519 key pair for signing checkpoints")
    keygen.add_argument("--private", type=Path, default=Path("delivery-signing.key"), metavar="FILE")
    keygen.add_argument("--public", type=Path, default=Path("delivery-signing.pub"), metavar="FILE")
    keygen.set_defaults(handler=_keygen)

    checkpoint = commands.add_parser("checkpoint", help="sign the store chain's head into a checkpoint file")
    checkpoint.add_argument("--key", type=Path, required=True, metavar="FILE", help="the Ed25519 private key")
    checkpoint.add_argument("--out", type=Path, metavar="FILE", help="default checkpoint-<position>.json")
    checkpoint.set_defaults(handler=_checkpoint)

    export = commands.add_parser("export", help="events as JSON Lines with their links, a view as CSV, "
                                 "milestones as iCalendar")
    export.add_argument("--project", metavar="ID", help="one project (default: the whole store)")
    export.add_argument("--format", choices=["jsonl", "csv", "ics"], default="jsonl")
    export.add_argument("--view", default="milestones", help="with --format csv: milestones, checklist, "
                        "change-requests, releases, events or portfolio")
    export.add_argument("--out", type=Path, metavar="FILE", help="default: stdout")
    export.set_defaults(handler=_export)

    imp = commands.add_parser("import", help="load an export into an empty store (refused unless it verifies)")
    imp.add_argument("file", type=Path)
    imp.set_defaults(handler=_import)

    backup = commands.add_parser("backup", help="the whole store in one file: events at their positions, links, "
                                 "tokens and share links (refused unless the chain verifies)")
    backup.add_argument("file", type=Path)
    backup.set_defaults(handler=_backup)

    restore = commands.add_parser("restore", help="a backup into an empty store (refused unless it verifies)")
    restore.add_argument("file", type=Path)
    restore.set_defaults(handler=_restore)

    replay = commands.add_parser("replay", help="rebuild every view in a scratch store and compare")
    replay.add_argument("--check", action="store_true", required=True)
    replay.add_argument("--json", action="store_true")
    replay.set_defaults(handler=_replay)

    diff = commands.add_parser("diff", help="what changed in a project between two moments, per view")
    diff.add_argument("project", metavar="ID")
    diff.add_argument("--from", dest="start", required=True, type=_moment, metavar="TIME")
    diff.add_argument("--to", dest="end", type=_moment, metavar="TIME", help="default: now")
    diff.add_argument("--json", action="store_true")
    diff.set_defaults(handler=_diff)

    add_receipt_commands(commands)


def _moment(value: str) -> datetime:
    try:
        return clock.parse_moment(value)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from None


def _fail(command: str, message: str, code: int = 2) -> int:
    print(f"delivery {command}: {printable(message)}", file=sys.stderr)
    return code


@contextmanager
def _open(catch_up: bool = True) -> Iterator[Any]:
    """The application and its read side, with the views (and chain) caught up unless told not to."""
    from api.cli import ProgressLine
    from delivery.application import DeliveryApplication
    from projections.service import ReadSide
    from projections.store import ApplyFailed

    app = DeliveryApplication()
    try:
        with ReadSide(app) as reads:
            if catch_up:
                try:
                    reads.catch_up(progress=ProgressLine("Linking new events"))
                except ApplyFailed as exc:
                    # The store is not what the views were built from: say where, and check what there is.
                    print(f"delivery: {exc}; going on with the views up to position {reads.stored_position()}.",
                          file=sys.stderr)
            yield reads
    finally:
        app.close()


def _verify(args: argparse.Namespace) -> int:
    from api.cli import ProgressLine
    from projections import checkpoint
    from projections.integrity import Verifier

    if (args.checkpoint is None) != (args.public_key is None):
        return _fail("verify", "--checkpoint and --public-key go together")
    try:
        with _open(not args.no_catch_up) as reads:
            verifier = Verifier(reads.app, reads.store)
            if args.project:
                verdict = verifier.project_chain(args.project)
            else:
                verdict = verifier.store_chain(progress=ProgressLine("Verifying"),
                                               snapshots=ProgressLine("Checking snapshots"))
            result: dict[str, Any] = verdict.as_dict()
            if args.checkpoint is not None:
                result["checkpoint"] = _check_checkpoint(verifier, args, checkpoint)
    except DeliveryError as exc:
        return _fail("verify", exc.message)
    holds = verdict.valid and result.get("checkpoint", {}).get("holds", True)
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        _print_verdict(result)
    return 0 if holds else 1


def _check_checkpoint(verifier: Any, args: argparse.Namespace, checkpoint: Any) -> dict[str, Any]:
    try:
        public = checkpoint.load_public(args.public_key)
        signed = checkpoint.open_checkpoint(json.loads(args.checkpoint.read_text()), public)
    except (OSError, ValueError) as exc:
        return {"holds": False, "reason": f"checkpoint not accepted: {exc}"}
    result: dict[str, Any] = verifier.check_checkpoint(signed)
    return result


def _print_verdict(result: dict[str, Any]) -> None:
    scope = "store" if result["scope"] == "store" else f"project {result['scope']}"
    if result["valid"]:
        print(f"OK: the {scope} chain holds over {result['events']:,} events; head {result['head']}; "
              f"{result['snapshots']:,} snapshots match their events")
    else:
        bad = result["first_bad"]
        where = f" at position {bad['position']}" if bad["position"] is not None else ""
        what = "snapshots" if bad["chain"] == "snapshots" else "chain"
        print(f"BROKEN: the {scope} {what} {'do' if what == 'snapshots' else 'does'} not match the events "
              f"(after {result['events']:,} good events): {bad['problem']}{where} (project {bad['project_id']} "
              f"v{bad['version']}): {bad['message']}")
    if result["unchained"]:
        print(f"{result['unchained']:,} events after position {result['head_position']} are not linked yet.")
    if "checkpoint" in result:
        cp = result["checkpoint"]
        print(("OK: " if cp["holds"] else "BROKEN: ") + cp["reason"]
              + (f" (position {cp['position']}, signed {cp['signed_at']})" if "position" in cp else ""))


def _keygen(args: argparse.Namespace) -> int:
    from projections.checkpoint import generate_keys

    try:
        fingerprint = generate_keys(args.private, args.public)
    except FileExistsError:
        return _fail("keygen", f"{args.private} exists; not overwriting a key")
    print(f"Private key: {args.private} (keep it outside the database; mode 600)\n"
          f"Public key:  {args.public}\nFingerprint: {fingerprint}", file=sys.stderr)
    return 0


def _checkpoint(args: argparse.Namespace) -> int:
    from api.cli import ProgressLine
    from projections import checkpoint
    from projections.integrity import Verifier

    try:
        key = checkpoint.load_private(args.key)
    except (OSError, ValueError) as exc:
        return _fail("checkpoint", str(exc))
    with _open() as reads:
        verifier = Verifier(reads.app, reads.store)
        verdict = verifier.store_chain(progress=ProgressLine("Verifying"),
                                       snapshots=ProgressLine("Checking snapshots"))
        if not verdict.valid:
            _print_verdict(verdict.as_dict())
            return _fail("checkpoint", "the chain does not verify; not signing it", 1)
        projects = verifier.project_heads(verdict.head_position)
    document = checkpoint.sign(key, verdict.head_position, verdict.events, verdict.head, clock.now(), projects)
    out = args.out or Path(f"checkpoint-{verdict.head_position}.json")
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"Signed position {verdict.head_position} ({verdict.events:,} events, head {verdict.head}) "
          f"into {out}.", file=sys.stderr)
    return 0


@contextmanager
def _output(path: Path | None, binary: bool = False) -> Iterator[IO[Any]]:
    if path is None:
        yield sys.stdout.buffer if binary else sys.stdout
        return
    with path.open("wb" if binary else "w", encoding=None if binary else "utf-8") as f:
        yield f


def _export(args: argparse.Namespace) -> int:
    from api.cli import ProgressLine
    from projections import feeds
    from projections.export import export_lines

    try:
        with _open() as reads:
            if args.format == "jsonl":
                with _output(args.out) as out:
                    for line in export_lines(reads.app, reads.store, args.project, ProgressLine("Exporting")):
                        out.write(line)
            elif args.format == "csv":
                with _output(args.out) as out:
                    feeds.write_csv(reads, args.view, args.project, clock.now(), out)
            else:
                if not args.project:
                    return _fail("export", "--format ics needs --project")
                with _output(args.out, binary=True) as out:
                    out.write(feeds.milestones_ics(reads, args.project, clock.now()))
    except DeliveryError as exc:
        return _fail("export", exc.message)
    return 0


def _import(args: argparse.Namespace) -> int:
    from api.cli import ProgressLine
    from delivery.application import DeliveryApplication
    from projections.export import FORMAT, check_export, import_events
    from projections.integrity import Verifier
    from projections.service import ReadSide

    app = DeliveryApplication()
    try:
        if app.recorder.max_notification_id():
            return _fail("import", "the store already has events; import only into an empty store")
        try:
            # Read as bytes, decoded line by line: a line that is not UTF-8 is refused by its number.
            with args.file.open("rb") as f:
                header = check_export(app, f, ProgressLine("Checking the chain"))
            with args.file.open("rb") as f:
                count = import_events(app, f, ProgressLine("Importing"))
        except (OSError, DeliveryError) as exc:
            return _fail("import", getattr(exc, "message", str(exc)))
        with ReadSide(app) as reads:
            reads.catch_up(progress=ProgressLine("Building views"))
            verifier = Verifier(app, reads.store)
            verdict = verifier.store_chain()
            relinked = header["format"] != FORMAT  # an older chain form: linked anew, its head differs
            same = relinked or (verdict.head == header["head"] if header["scope"] == "store" else all(
                verifier.project_chain(pid).valid for pid in _streams(args.file)
            ))
    finally:
        app.close()
    note = (f" (the file's {header['format']} links checked, then linked anew in the current form)." if relinked
            else " (the same as the file's)." if same else " (differs from the file's!).")
    print(f"Imported {count:,} events; chain head {verdict.head}" + note, file=sys.stderr)
    return 0 if same and verdict.valid else 1


def _streams(path: Path) -> set[str]:
    with path.open(encoding="utf-8") as f:
        next(f)
        return {json.loads(line)["event"]["stream"] for line in f if line.strip()}


def _kept_tables() -> tuple[Any, ...]:
    """The tables a backup keeps beside the events: who may read (hashed tokens, share links), the
    Idempotency-Keys of recent commands (so a retry after a restore is answered, not recorded again), and
    the notification subscriptions (configuration; the outbox is planned again, docs/notifications.md)."""
    from api.auth import tokens_table
    from api.idempotency import command_keys_table
    from notify.tables import subscriptions
    from web.sessions import share_links_table, share_signers_table

    return (tokens_table, share_links_table, share_signers_table, command_keys_table, subscriptions)


def _backup(args: argparse.Namespace) -> int:
    from api.cli import ProgressLine
    from projections.backup import write_backup

    if args.file.exists():
        return _fail("backup", f"{args.file} exists; not overwriting it")
    partial = args.file.with_name(args.file.name + ".partial")
    try:
        with _open() as reads, partial.open("wb") as out:
            header = write_backup(reads.app, reads.store, _kept_tables(), out, ProgressLine("Backing up"))
        partial.rename(args.file)
    except (OSError, DeliveryError) as exc:
        partial.unlink(missing_ok=True)
        return _fail("backup", getattr(exc, "message", str(exc)))
    tables = ", ".join(f"{n:,} {t}" for t, n in header["tables"].items())
    print(f"Backed up {header['events']:,} events up to position {header['position']} (head {header['head']}) "
          f"and {tables} into {args.file}.", file=sys.stderr)
    return 0


def _restore(args: argparse.Namespace) -> int:
    from api.cli import ProgressLine
    from delivery.application import DeliveryApplication
    from notify.store import NotifyStore
    from projections.backup import check_backup, restore, restore_is_refused
    from projections.integrity import Verifier
    from projections.service import ReadSide

    tables = _kept_tables()
    app = DeliveryApplication()
    try:
        with ReadSide(app) as reads:
            try:
                refused = restore_is_refused(app, reads.store, ())
                if refused:
                    return _fail("restore", refused)
                with args.file.open("rb") as f:
                    header = check_backup(app, f, tables, ProgressLine("Checking the backup"))
                with args.file.open("rb") as f:
                    count = restore(app, reads.store, f, tables, ProgressLine("Restoring"))
            except (OSError, DeliveryError) as exc:
                return _fail("restore", getattr(exc, "message", str(exc)))
            reads.catch_up(progress=ProgressLine("Building views"))
            # What happened before the backup was notified then: the restored subscriptions hear what follows.
            NotifyStore(reads.store.engine).start_after(header["position"])
            verdict = Verifier(app, reads.store).store_chain()
    finally:
        app.close()
    same = verdict.valid and verdict.head == header["head"]
    print(f"Restored {count:,} events up to position {header['position']}; chain head {verdict.head}"
          + (" (the same as the backup's)." if same else " (differs from the backup's!)."), file=sys.stderr)
    return 0 if same else 1


def _replay(args: argparse.Namespace) -> int:
    from api.cli import ProgressLine
    from projections.replay import replay_check

    with _open() as reads:
        report = replay_check(reads.app, reads.store, ProgressLine("Replaying"))
    if args.json:
        print(json.dumps({"same": report.same, "position": report.position, "events": report.events,
                          "rows": report.rows, "broken": report.broken, "differences": report.count,
                          "shown": [d.as_dict() for d in report.differences]}, indent=2, default=str))
    elif report.broken is not None:
        print(f"BROKEN: the views cannot be rebuilt past position {report.broken['position']} "
              f"({report.broken['problem']}): {report.broken['message']}")
    elif report.same:
        print(f"OK: every view rebuilt from {report.events:,} events (to position {report.position}) equals "
              f"the live one ({', '.join(f'{n:,} {t}' for t, n in report.rows.items())}).")
    else:
        print(f"DIFFERENT: {report.count:,} differences between the live views and a rebuild from "
              f"{report.events:,} events:")
        for d in report.differences:
            print(f"  {d.table} {d.key} {d.column}: live {d.live!r}, rebuilt {d.rebuilt!r}")
    return 0 if report.same else 1


def _diff(args: argparse.Namespace) -> int:
    from projections.diff import diff

    try:
        with _open() as reads:
            result = diff(reads, args.project, args.start, args.end or clock.now())
    except DeliveryError as exc:
        return _fail("diff", exc.message)
    if args.json:
        print(result.model_dump_json(by_alias=True, indent=2))
        return 0
    print(f"Project {result.project_id}: {len(result.events)} events between {result.from_} and {result.to}")
    for view in result.views:
        if not view.items:
            continue
        print(f"\n{view.view}: {view.added} added, {view.removed} removed, {view.changed} changed")
        for item in view.items:
            print(f"  {item.change:8} {printable(item.id)}  events {', '.join(map(str, item.events)) or '-'}")
            for name, (before, after) in item.fields.items():
                print(printable(f"           {name}: {json.dumps(before, ensure_ascii=False)} -> "
                                f"{json.dumps(after, ensure_ascii=False)}"))
    return 0


# ------------------------------------------------------- signed receipts (issue 14)


def add_receipt_commands(commands: Any) -> None:
    receipt = commands.add_parser("receipt", help="check a client's signed receipt against the store")
    actions = receipt.add_subparsers(dest="receipt_command", required=True, metavar="{verify,public-key}")
    verify = actions.add_parser("verify", help="whether the store still holds exactly the history up to a receipt")
    verify.add_argument("file", type=Path, metavar="FILE", help="the receipt (JSON) as downloaded")
    verify.add_argument("--public-key", type=Path, required=True, metavar="KEY",
                        help="the server's public key (PEM), kept apart from the server")
    verify.add_argument("--json", action="store_true", help="print the result as JSON")
    verify.set_defaults(handler=_receipt_verify)
    key = actions.add_parser("public-key", help="print the public key this server signs receipts with (PEM)")
    key.set_defaults(handler=_receipt_public_key)


def _receipt_verify(args: argparse.Namespace) -> int:
    from projections import receipts
    from projections.checkpoint import load_public

    try:
        public = load_public(args.public_key)
    except (OSError, ValueError) as exc:
        return _fail("receipt verify", f"{args.public_key}: {exc}")
    try:
        document = json.loads(args.file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return _fail("receipt verify", f"{args.file} is not a receipt file: {exc}")
    result: dict[str, Any]
    try:
        statement = receipts.open_receipt(document, public)
    except ValueError as exc:
        result = {"holds": False, "signature_valid": False, "reason": f"receipt not accepted: {exc}"}
    else:
        with _open() as reads:
            result = {"signature_valid": True, **receipts.check(reads.app, reads.store, statement)}
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        where = (f" (project {result['project_id']} v{result['version']}, position {result['position']}, "
                 f"{result['event_type']})") if "project_id" in result else ""
        print(("OK: " if result["holds"] else "BROKEN: ") + printable(result["reason"]) + where)
    return 0 if result["holds"] else 1


def _receipt_public_key(args: argparse.Namespace) -> int:
    from delivery.settings import Database
    from projections import receipts

    try:
        key = receipts.signing_key(Database.from_env())
    except DeliveryError as exc:
        return _fail("receipt public-key", exc.message)
    print(receipts.public_pem(key), end="")
    return 0
