"""`delivery serve` and `delivery token create`: the commands the HTTP API adds to the command line."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from delivery.errors import DeliveryError


def add_commands(commands: Any) -> None:
    serve = commands.add_parser("serve", help="start the HTTP API (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="API processes (more than 1 suits PostgreSQL)")
    serve.set_defaults(handler=_serve)

    token = commands.add_parser("token", help="issue API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True, metavar="COMMAND")
    create = token_commands.add_parser("create", help="print one new token alone on stdout")
    create.add_argument("--role", required=True, choices=["pm", "client", "auditor"])
    create.add_argument("--project", action="append", default=[], metavar="ID",
                        help="a project a client token may see (repeat for several)")
    create.add_argument("--name", help="who holds the token (recorded as the actor of their writes)")
    create.set_defaults(handler=_token_create)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from delivery import logs
    from delivery.settings import Database

    if args.workers > 1 and Database.from_env().kind == "sqlite":
        # Each process would keep its own reads in memory and apply its own views: one process serves SQLite.
        print("delivery serve: --workers above 1 needs PostgreSQL (DELIVERY_DATABASE_URL=postgresql://...); "
              "SQLite is served by one process.", file=sys.stderr)
        return 2
    if args.workers > 1:
        # Each worker process builds its own app from the same setting.
        uvicorn.run("api.app:create_served_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                    log_config=logs.config(), access_log=False)
    else:
        from api.app import create_served_app

        logs.configure()  # the app logs while it starts
        uvicorn.run(create_served_app(), host=args.host, port=args.port, log_config=logs.config(), access_log=False)
    return 0


def _token_create(args: argparse.Namespace) -> int:
    from api.auth import TokenStore
    from delivery.application import DeliveryApplication
    from delivery.settings import Database
    from projections.store import make_engine

    database = Database.from_env()
    app = DeliveryApplication(database)
    engine = make_engine(database)
    try:
        for pid in args.project:
            app.get_project(pid)
        token, _info = TokenStore(engine).create(
            role=args.role, projects=args.project, name=args.name, created_by="cli",
        )
    except DeliveryError as exc:
        print(f"delivery token create: {exc.message}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
        app.close()
    print(token)
    return 0
