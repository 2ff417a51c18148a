"""The operator page: a small login-protected web UI and JSON API served by the daemon.

auth (passwords, sessions, CSRF, login throttle), forms (query parameters checked),
images (snapshot files confined to the snapshot directory, plate box drawn), health (the
health page's figures), routes (the WSGI application), api (its JSON half), server (waitress
in a thread, capped and timed out). Only daemon.app (wiring) and daemon.cli import it.
"""
