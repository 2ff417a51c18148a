"""Local services for tests (PostgreSQL, Redis): reachability checks that skip, or fail under CI.

A test that needs a service calls :func:`require` (or uses a fixture built on it):
when the service cannot be reached it is skipped with the reason, except when the
environment variable ``CI=true``, where a missing service is a failure.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

REDIS_URL = os.environ.get("GATECAM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
"""Database 15 of the local Redis, kept apart from anything a developer runs on 0."""


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    """True if a TCP connection to host:port opens within ``timeout`` s."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require(name: str, host: str, port: int) -> None:
    """Skip the test (fail under CI=true) unless ``name`` listens on host:port."""
    if reachable(host, port):
        return
    reason = f"{name} is not reachable on {host}:{port}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: services must be running)")
    pytest.skip(reason)


@pytest.fixture
def redis_url() -> str:
    """The URL of a reachable local Redis (database 15), or skip/fail."""
    require("Redis", "127.0.0.1", 6379)
    return REDIS_URL


POSTGRES_URL = os.environ.get(
    "GATECAM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
"""The local PostgreSQL (trust auth); each test gets its own schema in it."""


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A SQLAlchemy URL whose connections use a fresh schema, dropped after the test."""
    require("PostgreSQL", "127.0.0.1", 5432)
    import uuid

    import sqlalchemy

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
    try:
        # libpq "options": every connection of the Store lands in the test's schema.
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sqlalchemy.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
