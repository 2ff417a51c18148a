"""The operator page: a small login-protected web UI and JSON API served by the daemon.

Receives: the store (passages, reads, outbox, audit), the App's read-only stages view and
the publisher's manual-open call, from daemon.app.
Hands on: HTML pages and JSON to logged-in operators; manual gate opens to the publisher
(through the gate rules) and their audit rows to the store.

auth (passwords, sessions, CSRF, login throttle), forms (query parameters checked),
images (snapshot files confined to the snapshot directory, plate box drawn), health (the
health page's figures), routes (the WSGI application), api (its JSON half), server (waitress
in a thread, capped and timed out). Only daemon.app (wiring) and daemon.cli import it.
"""
