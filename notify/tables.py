"""The notification tables, beside the events in the same database (configuration and delivery state)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# Who hears what: configuration the pm edits (not a project fact), so rows, not events (docs/notifications.md).
subscriptions = Table(
    "notify_subscriptions", metadata,
    Column("id", String(16), primary_key=True),
    Column("name", String(120), nullable=False),
    Column("project_id", String(36)),  # None: every project (portfolio-wide)
    Column("kinds", Text, nullable=False),  # JSON list
    Column("channel", String(16), nullable=False),
    Column("target", Text, nullable=False),  # a URL, or an email address
    Column("secret", Text, nullable=False),  # signing secret ('' when the channel signs nothing)
    Column("language", String(8), nullable=False),
    # Events at or before this store position are never delivered to it (no flood of the past).
    Column("start_position", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(120), nullable=False),
    Column("deleted_at", DateTime(timezone=True)),
)

# The planner's position in the event stream, moved by compare-and-set in the transaction that plans.
positions = Table(
    "notify_positions", metadata,
    Column("name", String(32), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

# One row per (notice, subscription): planned with the position, delivered from here.
outbox = Table(
    "notify_outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", String(36), nullable=False, unique=True),
    Column("subscription_id", String(16), nullable=False),
    Column("project_id", String(36), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("notice", Text, nullable=False),  # JSON: what the message is written from
    Column("state", String(12), nullable=False),  # pending, delivered, dead
    Column("attempts", Integer, nullable=False),
    Column("next_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
    Index("ix_notify_outbox_due", "state", "next_at"),
    Index("ix_notify_outbox_subscription", "subscription_id", "id"),
)

# Every attempt: the delivery log of a subscription.
attempts = Table(
    "notify_attempts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", String(36), nullable=False),
    Column("subscription_id", String(16), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("detail", Text, nullable=False),
    Index("ix_notify_attempts_subscription", "subscription_id", "id"),
)

# Project names for messages, kept by the planner (it may run ahead of the views).
projects = Table(
    "notify_projects", metadata,
    Column("project_id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("client", String(120), nullable=False),
)

# Open milestones and the time-based status already raised for each (once per transition, across restarts).
milestones = Table(
    "notify_milestones", metadata,
    Column("project_id", String(36), primary_key=True),
    Column("milestone_id", String(16), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("due_on", String(10), nullable=False),
    Column("done", Boolean, nullable=False),
    Column("raised", String(8), nullable=False),  # '', 'at_risk' or 'late'
    Index("ix_notify_milestones_due", "done", "due_on"),
)

# The pm's attention list: what waits for a decision or is late, one row per item.
attention = Table(
    "notify_attention", metadata,
    Column("project_id", String(36), primary_key=True),
    Column("kind", String(24), primary_key=True),
    Column("ref", String(36), primary_key=True),
    Column("detail", Text, nullable=False),  # JSON
    Column("since", DateTime(timezone=True), nullable=False),
    Column("position", BigInteger, nullable=False),
    Index("ix_notify_attention_since", "since"),
)
