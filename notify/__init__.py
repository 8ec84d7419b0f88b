"""Notifications: subscriptions, an outbox planned from the event stream, and its delivery to receivers."""
