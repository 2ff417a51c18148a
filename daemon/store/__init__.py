"""Store: the database (SQLite by default, any SQLAlchemy URL) and everything that writes it.

Receives: confirmed Passages with their reads and snapshot frame from the lanes.
Hands on: committed passages and their outbox rows (one transaction) to the MQTT publisher,
storage status for MQTT and health.

Modules: ``tables`` (SQLAlchemy Core tables), ``db`` (the Store: engine and queries),
``recorder`` (the single writer thread), ``health`` (storage health, retries, fallback),
``snapshots`` (JPEG files on disk), ``retention`` (bounded in days and bytes).
"""
