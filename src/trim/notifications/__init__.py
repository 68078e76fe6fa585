"""Notifications: the outbox, email preferences, the worker that sends, calendar feeds."""
