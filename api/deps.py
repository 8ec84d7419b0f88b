"""Typed dependencies: the services, the caller, the project they may see, and the write path."""

from __future__ import annotations

import logging
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from api.auth import Principal, TokenStore
from api.errors import Forbidden, Unauthenticated
from api.fastpath import PortfolioQueries
from api.idempotency import command_key
from api.schemas import WriteResult
from delivery import clock
from delivery.application import DeliveryApplication, Recorded, parse_project_id
from delivery.errors import InvalidInput, NotFound, VersionConflict
from delivery.messages import msg
from delivery.settings import Database
from notify.runner import Notifier
from notify.store import NotifyStore
from projections.service import ReadSide, ViewsBehind

log = logging.getLogger(__name__)


@dataclass
class Services:
    """What every request shares: the application (writes), the read side, tokens and keys."""

    database: Database
    app: DeliveryApplication
    reads: ReadSide
    engine: Engine
    tokens: TokenStore
    # Subscriptions, the outbox and the attention list (notify/); `notifier` delivers where this process does.
    notices: NotifyStore
    notifier: Notifier | None = None
    # Validated portfolio filters by raw query string, for the kept-reads layer (api/fastpath.py).
    portfolio_queries: PortfolioQueries = field(default_factory=PortfolioQueries)
    # Commands in order run without FastAPI's routing (api/fastpath.py DirectCommands); off, every one goes
    # through the routes (tests compare the two).
    direct_commands: bool = True

    def close(self) -> None:
        if self.notifier is not None:
            self.notifier.stop()
        self.reads.close()
        self.engine.dispose()
        self.app.close()


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

_bearer = HTTPBearer(auto_error=False, description="A token from `delivery token create` or `POST /api/v1/tokens`.")


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    # Async all the way: a known token costs no thread hand-off (TokenStore keeps live ones in memory). The
    # services come from the request, not from a dependency: FastAPI walks a dependency's own dependencies on
    # every use, and a command's route uses this one twice (its writer, its project).
    if credentials is None:
        raise Unauthenticated()
    services: Services = request.app.state.services
    principal = services.tokens.cached(credentials.credentials)
    if principal is None:
        principal = await run_in_threadpool(services.tokens.authenticate, credentials.credentials)
    if principal is None:
        raise Unauthenticated(msg("token_unknown"))
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]


# Who may write through each writer (below): the routes' dependencies and the direct path read these.
PM = frozenset({"pm"})
CLIENT = frozenset({"client"})
PARTICIPANTS = frozenset({"pm", "client"})


async def require_pm(principal: CurrentUser) -> Principal:
    if principal.role not in PM:
        raise Forbidden(principal.role, "forbidden_write")
    return principal


ProjectManager = Annotated[Principal, Depends(require_pm)]


async def require_history_reader(principal: CurrentUser) -> Principal:
    if principal.role == "client":
        raise Forbidden(principal.role, "forbidden_audit")
    return principal


HistoryReader = Annotated[Principal, Depends(require_history_reader)]


async def visible_project(
    project_id: Annotated[str, Path(min_length=1, max_length=64, examples=["8c7e7d0e-4d0b-4f7e-9a57-7a0f3c1c2b11"])],
    principal: CurrentUser,
) -> str:
    """The project id in canonical form; a project a client may not see does not exist for it."""
    pid = str(parse_project_id(project_id))
    if not principal.may_see(pid):
        raise NotFound("project", project_id)
    return pid


ProjectId = Annotated[str, Depends(visible_project)]


# A moment in the query is declared an RFC 3339 date-time (what generators send); a date alone, or a time
# without offset (UTC), is read too, and anything else is refused by parse_moment with 422.
MOMENT_SCHEMA: dict[str, Any] = {"format": "date-time"}


def parse_moment(field: str, value: str) -> datetime:
    """An ISO 8601 date or time as an aware UTC datetime (UTC when it has no offset).

    A valid moment that UTC cannot hold (year 1 with a positive offset, year 9999 with a
    negative one) is the earliest or latest moment there is, not an error.
    """
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text[:10] + text[10:].upper())
    except ValueError:
        raise InvalidInput(field, msg("rule_iso_moment")) from None
    try:
        return clock.as_utc(moment)
    except OverflowError:
        edge = datetime.min if moment.year == datetime.min.year else datetime.max
        return edge.replace(tzinfo=UTC)


async def as_of_param(
    principal: CurrentUser,
    as_of: Annotated[str | None, Query(
        max_length=40, json_schema_extra=MOMENT_SCHEMA,
        description="Show the view as the record stood at this moment (ISO 8601; UTC when no offset). "
        "pm and auditor only.", examples=["2026-11-01T12:00:00Z"],
    )] = None,
) -> datetime | None:
    if as_of is None:
        return None
    if principal.role == "client":
        raise Forbidden(principal.role, "forbidden_as_of")
    return parse_moment("as_of", as_of)


AsOf = Annotated[datetime | None, Depends(as_of_param)]


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(value: str | None) -> int | None:
    """`"7"`, `W/"7"` or `7` → 7; `*` or nothing → None (no precondition)."""
    if value is None or value.strip() == "*":
        return None
    text = value.strip().removeprefix("W/").strip('"')
    if not text.isdigit() or len(text) > 9:
        raise InvalidInput("If-Match", msg("rule_if_match"))
    return int(text)


# Rounds of the application's own retries a write may take before answering version_conflict.
CONFLICT_ROUNDS = 4
IF_MATCH_PATTERN = r'^(\*|(W/)?"?[0-9]{1,9}"?)$'
IF_MATCH_MAX = 16
KEY_PATTERN = r"^[!-~]{1,200}$"
KEY_MAX = 200
# For tests of exactly once across crashes: the process exits at once after recording a command sent with this
# Idempotency-Key, before answering it (as a kill -9 would). Unset in any real deployment.
EXIT_AFTER_SAVE = os.environ.get("DELIVERY_TEST_EXIT_AFTER_SAVE") or None
EXIT_STATUS = 137


IfMatch = Annotated[str | None, Header(
    alias="If-Match", max_length=IF_MATCH_MAX, pattern=IF_MATCH_PATTERN,
    description="The project version (ETag) this write expects; 412 and nothing recorded when stale.",
)]
IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=KEY_MAX, pattern=KEY_PATTERN,
    description="Send the same key with the same body to retry safely: the first response comes back "
    "and nothing is recorded again.",
)]


class Writer:
    """Runs one command for its principal: If-Match, Idempotency-Key, read-your-writes, ETag."""

    def __init__(self, request: Request, services: Services, principal: Principal, if_match: str | None,
                 idempotency_key: str | None) -> None:
        self.request = request
        self.services = services
        self.principal = principal
        self.expected = parse_if_match(if_match)
        self.key = idempotency_key

    def __call__(
        self, command: Callable[..., Recorded[Any]], project_id: str | None, body: BaseModel | None = None,
        *, status: int = 200, summary: bool = False, fields: dict[str, Any] | None = None, **kwargs: Any,
    ) -> JSONResponse:
        """Run `command` with the body's fields (or `fields`) and `kwargs` as its arguments."""
        if fields is None:
            fields = body.model_dump() if body is not None else {}
        arguments = {**fields, **kwargs}
        key = None
        if self.key is not None:
            payload = body.model_dump(mode="json") if body is not None else None
            key = command_key(self.principal.token_id, self.key, self.request.method, self.request.url.path, payload)
        # Under a key, the command is recorded with it in one transaction; a retry gets what the first recorded.
        with self.services.app.keyed(key):
            recorded = self._record(command, project_id, arguments)
        if EXIT_AFTER_SAVE is not None and self.key == EXIT_AFTER_SAVE and not recorded.replayed:
            os._exit(EXIT_STATUS)  # a crash between save and answer, for tests (see EXIT_AFTER_SAVE)
        pid = str(recorded.project_id)
        headers = {"ETag": etag(recorded.version)}
        if recorded.replayed:
            headers["Idempotent-Replayed"] = "true"
        result = WriteResult(project_id=pid, version=recorded.version,
                             id=recorded.value if isinstance(recorded.value, str) else None)
        reads = self.services.reads
        try:
            reads.wait_for(recorded.position)
        except ViewsBehind as exc:
            # Recorded all the same: a retry with the key is answered from the record, never recorded twice.
            exc.details.update({"recorded": True, "project_id": pid, "version": recorded.version})
            raise
        if summary:
            # A replay shows the project as the first answer did: as of the command's own position.
            view = reads.summary(pid, position=recorded.position) if recorded.replayed else reads.summary(pid)
            return JSONResponse(jsonable_encoder(view), status, headers=headers)
        # The same bytes JSONResponse would write (compact, UTF-8), encoded by pydantic in one call.
        return EncodedJSON(_WRITE_RESULT.to_json(result), status, headers=headers)

    def _record(self, command: Callable[..., Recorded[Any]], project_id: str | None,
                arguments: dict[str, Any]) -> Recorded[Any]:
        if project_id is None:
            return command(actor=self.principal.name, **arguments)
        for attempt in range(1, CONFLICT_ROUNDS + 1):
            try:
                return command(project_id, actor=self.principal.name, expected_version=self.expected, **arguments)
            except VersionConflict:
                # The application retried at once and kept losing: a crowd is writing this
                # project. Back off a random moment so the writers spread out, then go again.
                if attempt == CONFLICT_ROUNDS:
                    raise
                time.sleep(random.uniform(0, 0.02 * attempt))
        raise AssertionError("unreachable")


class EncodedJSON(JSONResponse):
    """A JSON answer whose body is already encoded."""

    def render(self, content: Any) -> bytes:
        return bytes(content)


_WRITE_RESULT = WriteResult.__pydantic_serializer__


async def pm_writer(
    request: Request, principal: ProjectManager,
    if_match: IfMatch = None, idempotency_key: IdempotencyKey = None,
) -> Writer:
    """A writer for a pm. Built in the event loop: a class as the dependency would cost each command a
    hop to the thread pool before the one its endpoint takes (FastAPI runs a class's `__init__` there)."""
    return Writer(request, request.app.state.services, principal, if_match, idempotency_key)


Write = Annotated[Writer, Depends(pm_writer)]


# ---------------------------------------------- client participation (issue 14)


async def require_client(principal: CurrentUser) -> Principal:
    if principal.role not in CLIENT:
        raise Forbidden(principal.role, "forbidden_participation")
    return principal


async def require_participant(principal: CurrentUser) -> Principal:
    if principal.role not in PARTICIPANTS:
        raise Forbidden(principal.role, "forbidden_comment")
    return principal


async def client_writer(
    request: Request, principal: Annotated[Principal, Depends(require_client)],
    if_match: IfMatch = None, idempotency_key: IdempotencyKey = None,
) -> Writer:
    """A writer for the project's client (a client token: the event names it as the actor)."""
    return Writer(request, request.app.state.services, principal, if_match, idempotency_key)


async def participant_writer(
    request: Request, principal: Annotated[Principal, Depends(require_participant)],
    if_match: IfMatch = None, idempotency_key: IdempotencyKey = None,
) -> Writer:
    """A writer for the pm or the project's client."""
    return Writer(request, request.app.state.services, principal, if_match, idempotency_key)


ClientWrite = Annotated[Writer, Depends(client_writer)]
ParticipantWrite = Annotated[Writer, Depends(participant_writer)]

# The writers and who may use each; the write headers' rules as their declarations above state them.
WRITER_ROLES: dict[Callable[..., Any], frozenset[str]] = {
    pm_writer: PM, client_writer: CLIENT, participant_writer: PARTICIPANTS,
}
WRITE_HEADERS: dict[str, tuple[re.Pattern[str], int]] = {
    "If-Match": (re.compile(IF_MATCH_PATTERN), IF_MATCH_MAX), "Idempotency-Key": (re.compile(KEY_PATTERN), KEY_MAX),
}
