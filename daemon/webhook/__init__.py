"""Webhooks: passage events POSTed to HTTP targets, at least once, from the outbox.

Receives: outbox rows of target ``webhook:<name>`` (committed by the recorder with each
passage, one per target) and a wake-up after each commit.
Hands on: HTTP POSTs (signed, optionally with the snapshot); the answer marks the row
delivered or final through the recorder, or pauses the target for a backoff.

Modules: ``request`` (body, signature, what an answer means; pure), ``sender`` (one
thread per target).
"""
