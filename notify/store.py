"""The notification tables' reads and writes: subscriptions, planning into the outbox, delivery outcomes."""

from __future__ import annotations

import json
import re
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from delivery import clock
from delivery.errors import InvalidInput, NotFound, RuleViolation
from delivery.messages import msg
from delivery.milestones import AT_RISK_DAYS
from delivery.validation import storable
from notify import kinds as K
from notify.messages import language_of
from notify.tables import attempts, attention, metadata, milestones, outbox, positions, projects, subscriptions
from projections.tables import create_all

CHANNELS = ("webhook", "wecom", "dingtalk", "feishu", "slack", "email")
# Channels whose target URL carries the receiver's own token: never shown whole again.
CHAT_CHANNELS = ("wecom", "dingtalk", "feishu", "slack")
# Channels that sign with a secret: the webhook's is made here, DingTalk's and Feishu's come from the robot.
SIGNED_CHANNELS = ("webhook", "dingtalk", "feishu")
PLANNER = "planner"
# Deliveries and receivers' names share this namespace: the id is stable across retries and restarts.
DELIVERY_NAMESPACE = uuid.UUID("6f1d3c52-2a44-4c0e-9d1e-7c3f0b9a8e11")
# One address: what the API's schema declares too (api/notification_schemas.py).
EMAIL_PATTERN = (r"^[^@\s<>\",;\x00-\x1f\x7f-\x9f]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                 r"(?:\.[A-Za-z0-9-]{1,63})*$")
EMAIL = re.compile(EMAIL_PATTERN)


class Raced(Exception):
    """Another planner moved the position first: this batch is theirs."""


@dataclass(frozen=True)
class Subscription:
    id: str
    name: str
    project_id: str | None
    kinds: list[str]
    channel: str
    target: str
    language: str
    start_position: int
    created_at: datetime
    created_by: str
    deleted_at: datetime | None
    has_secret: bool

    @property
    def shown_target(self) -> str:
        """The target as pages and the API show it: a chat robot's URL holds its token, so only its host."""
        if self.channel == "email":
            return self.target
        parts = urlsplit(self.target)
        if self.channel in CHAT_CHANNELS:
            return f"{parts.scheme}://{parts.netloc}/…"
        return f"{parts.scheme}://{parts.netloc}{parts.path}"


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    subscription_id: str
    project_id: str
    kind: str
    notice: dict[str, Any]
    state: str
    attempts: int
    next_at: datetime
    last_error: str
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True)
class Attempt:
    delivery_id: str
    attempt: int
    at: datetime
    ok: bool
    detail: str


@dataclass(frozen=True)
class AttentionItem:
    project_id: str
    project_name: str
    client: str
    kind: str
    ref: str
    detail: dict[str, Any]
    since: datetime
    position: int


def delivery_id(subscription_id: str, notice: K.Notice) -> str:
    return str(uuid.uuid5(DELIVERY_NAMESPACE, f"{subscription_id}|{notice.project_id}|{notice.key}"))


def check_subscription(*, name: str, kinds: Sequence[str], channel: str, target: str, language: str,
                       secret: str | None) -> dict[str, Any]:
    """The columns of a new subscription, or InvalidInput naming the field and the rule."""
    if channel not in CHANNELS:
        raise InvalidInput("channel", msg("rule_one_of", options=list(CHANNELS)))
    chosen = list(dict.fromkeys(kinds))
    if not chosen:
        raise InvalidInput("kinds", msg("rule_some_kind"))
    for i, k in enumerate(chosen):
        if k not in K.KINDS:
            raise InvalidInput(f"kinds[{i}]", msg("rule_one_of", options=list(K.KINDS)))
    target = storable("target", target.strip())
    if channel == "email":
        if len(target) > 254 or not EMAIL.match(target):
            raise InvalidInput("target", msg("rule_email"))
    else:
        parts = urlsplit(target)
        if len(target) > 2000 or parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput("target", msg("rule_http_url", max=2000))
    if language.replace("_", "-") not in ("en", "zh-CN", "zh"):
        raise InvalidInput("language", msg("rule_language"))
    label = storable("name", name.strip())
    if len(label) > 120:
        raise InvalidInput("name", msg("rule_max_chars", max=120))
    given = storable("secret", (secret or "").strip())
    if given and channel not in ("dingtalk", "feishu"):
        raise InvalidInput("secret", msg("rule_secret_robots_only"))
    if len(given) > 200:
        raise InvalidInput("secret", msg("rule_max_chars", max=200))
    made = "whsec_" + secrets.token_urlsafe(32) if channel == "webhook" else given
    return {"name": label or f"{channel} subscription", "kinds": json.dumps(chosen), "channel": channel,
            "target": target, "language": language_of(language), "secret": made}


# The planner's statements, built once (each event's effects run a few of them; building a statement per event
# cost more than running it).
_MILESTONE_KEY = and_(milestones.c.project_id == bindparam("pid"), milestones.c.milestone_id == bindparam("mid"))
_DROP_PROJECT = delete(projects).where(projects.c.project_id == bindparam("pid"))
_ADD_PROJECT = insert(projects)
_PROJECT_NAME = select(projects.c.name, projects.c.client).where(projects.c.project_id == bindparam("pid"))
_DROP_MILESTONE = delete(milestones).where(_MILESTONE_KEY)
_ADD_MILESTONE = insert(milestones)
_MILESTONE_DONE = update(milestones).where(_MILESTONE_KEY).values(done=True)
_MILESTONE_MOVED = update(milestones).where(_MILESTONE_KEY).values(due_on=bindparam("due"), raised="")
_MILESTONE_RAISED = update(milestones).where(_MILESTONE_KEY).values(raised=bindparam("status"))
_DROP_ATTENTION = (delete(attention).where(attention.c.project_id == bindparam("pid"))
                   .where(attention.c.kind == bindparam("kind")).where(attention.c.ref == bindparam("ref")))
_ADD_ATTENTION = insert(attention)


def _insert_ignoring_duplicates(engine: Engine, table: Any) -> Any:
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


class NotifyStore:
    """Subscriptions, the outbox and its log, the scheduler's milestones and the attention list."""

    def __init__(self, engine: Engine, reader: Engine | None = None) -> None:
        self.engine = engine
        self.reader = reader or engine
        create_all(engine, metadata)
        with engine.begin() as conn:
            if conn.execute(select(positions.c.position).where(positions.c.name == PLANNER)).first() is None:
                conn.execute(_insert_ignoring_duplicates(engine, positions).values(name=PLANNER, position=0))

    # ------------------------------------------------------------ subscriptions

    def subscribe(self, *, name: str, project_id: str | None, kinds: Sequence[str], channel: str, target: str,
                  language: str, secret: str | None, start_position: int, created_by: str) -> tuple[Subscription, str]:
        """A new subscription and its secret (shown this once; '' when the channel has none)."""
        values = check_subscription(name=name, kinds=kinds, channel=channel, target=target, language=language,
                                    secret=secret)
        sid = secrets.token_hex(4)
        with self.engine.begin() as conn:
            conn.execute(insert(subscriptions).values(
                id=sid, project_id=project_id, start_position=start_position, created_at=clock.now(),
                created_by=created_by, deleted_at=None, **values))
        return self.subscription(sid), values["secret"] if channel == "webhook" else ""

    def subscriptions(self, *, include_deleted: bool = False) -> list[Subscription]:
        stmt = select(subscriptions).order_by(subscriptions.c.created_at, subscriptions.c.id)
        if not include_deleted:
            stmt = stmt.where(subscriptions.c.deleted_at.is_(None))
        with self.reader.connect() as conn:
            return [_subscription(r) for r in conn.execute(stmt)]

    def subscription(self, sid: str) -> Subscription:
        with self.reader.connect() as conn:
            row = conn.execute(select(subscriptions).where(subscriptions.c.id == sid)).first()
        if row is None:
            raise NotFound("subscription", sid)
        return _subscription(row)

    def start_after(self, position: int) -> None:
        """Deliver nothing at or before `position` (after a restore: those events were notified before)."""
        with self.engine.begin() as conn:
            conn.execute(update(subscriptions).where(subscriptions.c.start_position < position)
                         .values(start_position=position))

    def secret_of(self, sid: str) -> str:
        with self.reader.connect() as conn:
            row = conn.execute(select(subscriptions.c.secret).where(subscriptions.c.id == sid)).first()
        return "" if row is None else str(row.secret)

    def unsubscribe(self, sid: str) -> Subscription:
        """Stop a subscription: nothing more is planned for it; what is in the outbox is dropped."""
        with self.engine.begin() as conn:
            found = conn.execute(update(subscriptions).where(subscriptions.c.id == sid)
                                 .where(subscriptions.c.deleted_at.is_(None)).values(deleted_at=clock.now()))
            if found.rowcount:
                conn.execute(update(outbox).where(outbox.c.subscription_id == sid)
                             .where(outbox.c.state == "pending")
                             .values(state="dead", last_error="the subscription was deleted"))
        return self.subscription(sid)

    # ------------------------------------------------------------ planning

    def position(self) -> int:
        with self.reader.connect() as conn:
            return int(conn.execute(select(positions.c.position).where(positions.c.name == PLANNER)).scalar_one())

    def plan(self, old: int, new: int, batch: Iterable[K.Effects]) -> int:
        """Record what a batch of events means (outbox rows, attention, milestones, names) and move the
        position from `old` to `new`, all in one transaction; Raced if another planner moved it first."""
        planned = 0
        now = clock.now()
        with self.engine.begin() as conn:
            moved = conn.execute(update(positions).where(positions.c.name == PLANNER)
                                 .where(positions.c.position == old).values(position=new))
            if moved.rowcount != 1:
                raise Raced()
            subs = [_subscription(r) for r in conn.execute(
                select(subscriptions).where(subscriptions.c.deleted_at.is_(None)))]
            for effects in batch:
                planned += self._apply(conn, effects, subs, now)
        return planned

    def _apply(self, conn: Any, e: K.Effects, subs: list[Subscription], now: datetime) -> int:
        pid = e.project_pid
        if e.project is not None:
            conn.execute(_DROP_PROJECT, {"pid": pid})
            conn.execute(_ADD_PROJECT, {"project_id": pid, **e.project})
        if e.milestone is not None:
            m = e.milestone
            key = {"pid": pid, "mid": m["milestone_id"]}
            if "title" in m:
                conn.execute(_DROP_MILESTONE, key)
                conn.execute(_ADD_MILESTONE, {"project_id": pid, "milestone_id": m["milestone_id"],
                                              "title": m["title"], "due_on": m["due_on"], "done": False, "raised": ""})
            elif m.get("done"):
                conn.execute(_MILESTONE_DONE, key)
            else:  # rescheduled: the new date has transitions of its own
                conn.execute(_MILESTONE_MOVED, {**key, "due": m["due_on"]})
        for kind, ref in e.attention_drop:
            conn.execute(_DROP_ATTENTION, {"pid": pid, "kind": kind, "ref": ref})
        for kind, ref, detail in e.attention_add:
            self._attend(conn, pid, kind, ref, detail, e.occurred_at, e.position)
        return self._enqueue(conn, e.notices, subs, now) if e.notices else 0

    def _attend(self, conn: Any, pid: str, kind: str, ref: str, detail: dict[str, Any], since: datetime,
                position: int) -> None:
        conn.execute(_DROP_ATTENTION, {"pid": pid, "kind": kind, "ref": ref})
        conn.execute(_ADD_ATTENTION, {"project_id": pid, "kind": kind, "ref": ref, "detail": json.dumps(detail),
                                      "since": since, "position": position})

    def _enqueue(self, conn: Any, notices: list[K.Notice], subs: list[Subscription], now: datetime) -> int:
        rows = []
        for n in notices:
            name = conn.execute(_PROJECT_NAME, {"pid": n.project_id}).first()
            doc = {"kind": n.kind, "project": {"id": n.project_id, "name": name.name if name else "",
                                               "client": name.client if name else ""},
                   "position": n.position, "occurred_at": n.occurred_at, "actor": n.actor, "data": n.data}
            timed = n.kind in K.TIMED_KINDS
            for s in subs:
                if n.kind not in s.kinds or (s.project_id is not None and s.project_id != n.project_id):
                    continue
                if not timed and n.position <= s.start_position:
                    continue
                rows.append({"delivery_id": delivery_id(s.id, n), "subscription_id": s.id,
                             "project_id": n.project_id, "kind": n.kind, "notice": json.dumps(doc),
                             "state": "pending", "attempts": 0, "next_at": now, "last_error": "",
                             "created_at": now, "delivered_at": None})
        if rows:
            conn.execute(_insert_ignoring_duplicates(self.engine, outbox), rows)
        return len(rows)

    def schedule(self, today: date, position: int) -> int:
        """Raise each open milestone's turn to at risk or late once (persisted with the outbox rows)."""
        horizon = (today + timedelta(days=AT_RISK_DAYS)).isoformat()
        now = clock.now()
        raised = 0
        with self.engine.begin() as conn:
            rows = conn.execute(select(milestones).where(milestones.c.done.is_(False)).where(
                or_(milestones.c.due_on <= horizon, milestones.c.raised != ""))).all()
            if not rows:
                return 0
            subs = [_subscription(r) for r in conn.execute(
                select(subscriptions).where(subscriptions.c.deleted_at.is_(None)))]
            for r in rows:
                status = K.timed_status(r.due_on, today.isoformat(), AT_RISK_DAYS)
                if K.RANKS[status] == K.RANKS[r.raised]:
                    continue
                conn.execute(_MILESTONE_RAISED, {"pid": r.project_id, "mid": r.milestone_id, "status": status})
                if K.RANKS[status] < K.RANKS[r.raised]:
                    if r.raised == "late":
                        conn.execute(_DROP_ATTENTION, {"pid": r.project_id, "kind": K.ATTENTION_LATE,
                                                       "ref": r.milestone_id})
                    continue
                m = {"milestone_id": r.milestone_id, "title": r.title, "due_on": r.due_on}
                notice = K.timed_notice(r.project_id, m, status, position=position, occurred_at=now.isoformat())
                raised += self._enqueue(conn, [notice], subs, now) or 0
                if status == "late":
                    self._attend(conn, r.project_id, K.ATTENTION_LATE, r.milestone_id,
                                 {"title": r.title, "due_on": r.due_on}, now, position)
        return raised

    # ------------------------------------------------------------ delivering

    def due(self, now: datetime, limit: int = 20) -> list[Delivery]:
        stmt = (select(outbox).where(outbox.c.state == "pending").where(outbox.c.next_at <= now)
                .order_by(outbox.c.next_at, outbox.c.id).limit(limit))
        with self.reader.connect() as conn:
            return [_delivery(r) for r in conn.execute(stmt)]

    def record(self, d: Delivery, *, ok: bool, detail: str, next_at: datetime | None) -> None:
        """An attempt's outcome: delivered, to be tried again at `next_at`, or dead (next_at None)."""
        now = clock.now()
        attempt = d.attempts + 1
        values: dict[str, Any] = {"attempts": attempt, "last_error": "" if ok else detail[:2000]}
        if ok:
            values.update(state="delivered", delivered_at=now)
        elif next_at is None:
            values.update(state="dead")
        else:
            values.update(next_at=next_at)
        with self.engine.begin() as conn:
            conn.execute(update(outbox).where(outbox.c.delivery_id == d.delivery_id)
                         .where(outbox.c.state == "pending").values(**values))
            conn.execute(insert(attempts).values(delivery_id=d.delivery_id, subscription_id=d.subscription_id,
                                                 attempt=attempt, at=now, ok=ok, detail=detail[:2000]))

    def dead_letters(self, limit: int = 200) -> list[Delivery]:
        stmt = select(outbox).where(outbox.c.state == "dead").order_by(outbox.c.id.desc()).limit(limit)
        with self.reader.connect() as conn:
            return [_delivery(r) for r in conn.execute(stmt)]

    def retry(self, did: str) -> Delivery:
        """Send a dead letter again from the first attempt's back-off (its past attempts stay in the log)."""
        with self.engine.begin() as conn:
            row = conn.execute(select(outbox).where(outbox.c.delivery_id == did)).first()
            if row is None:
                raise NotFound("delivery", did)
            sub = conn.execute(select(subscriptions.c.deleted_at).where(
                subscriptions.c.id == row.subscription_id)).first()
            if row.state != "dead":
                raise RuleViolation(f"Delivery {did} is {row.state}; only a dead letter can be retried.",
                                    {"delivery_id": did, "state": row.state})
            if sub is None or sub.deleted_at is not None:
                raise RuleViolation(f"Delivery {did} belongs to a deleted subscription.", {"delivery_id": did})
            conn.execute(update(outbox).where(outbox.c.delivery_id == did).values(
                state="pending", attempts=0, next_at=clock.now(), last_error=""))
            row = conn.execute(select(outbox).where(outbox.c.delivery_id == did)).one()
        return _delivery(row)

    def deliveries(self, sid: str, limit: int = 100) -> list[tuple[Delivery, list[Attempt]]]:
        """A subscription's deliveries, newest first, each with its attempts."""
        with self.reader.connect() as conn:
            rows = [_delivery(r) for r in conn.execute(select(outbox).where(outbox.c.subscription_id == sid)
                                                          .order_by(outbox.c.id.desc()).limit(limit))]
            ids = [d.delivery_id for d in rows]
            tries: dict[str, list[Attempt]] = {i: [] for i in ids}
            if ids:
                for a in conn.execute(select(attempts).where(attempts.c.delivery_id.in_(ids))
                                      .order_by(attempts.c.id)):
                    tries[a.delivery_id].append(Attempt(a.delivery_id, a.attempt, clock.as_utc(a.at), a.ok,
                                                        a.detail))
        return [(d, tries[d.delivery_id]) for d in rows]

    # ------------------------------------------------------------ attention

    def attention(self, limit: int = 100, project_ids: Iterable[str] | None = None) -> list[AttentionItem]:
        """What waits for the pm, newest first (one indexed read, joined with the projects' names)."""
        stmt = (select(attention, projects.c.name, projects.c.client)
                .join(projects, projects.c.project_id == attention.c.project_id, isouter=True)
                .order_by(attention.c.since.desc(), attention.c.position.desc()).limit(limit))
        if project_ids is not None:
            stmt = stmt.where(attention.c.project_id.in_(list(project_ids)))
        with self.reader.connect() as conn:
            return [AttentionItem(r.project_id, r.name or r.project_id, r.client or "", r.kind, r.ref,
                                  json.loads(r.detail), clock.as_utc(r.since), int(r.position))
                    for r in conn.execute(stmt)]


def _subscription(r: Any) -> Subscription:
    return Subscription(
        id=r.id, name=r.name, project_id=r.project_id, kinds=json.loads(r.kinds), channel=r.channel,
        target=r.target, language=r.language, start_position=int(r.start_position),
        created_at=clock.as_utc(r.created_at), created_by=r.created_by,
        deleted_at=clock.as_utc(r.deleted_at) if r.deleted_at else None, has_secret=bool(r.secret))


def _delivery(r: Any) -> Delivery:
    return Delivery(
        delivery_id=r.delivery_id, subscription_id=r.subscription_id, project_id=r.project_id, kind=r.kind,
        notice=json.loads(r.notice), state=r.state, attempts=int(r.attempts), next_at=clock.as_utc(r.next_at),
        last_error=r.last_error, created_at=clock.as_utc(r.created_at),
        delivered_at=clock.as_utc(r.delivered_at) if r.delivered_at else None)
