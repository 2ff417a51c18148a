"""daemon/web/auth.py: password hashes, sessions, CSRF and the login throttle (fake clock)."""

from __future__ import annotations

import pytest

from daemon.web.auth import (
    MAX_SESSIONS,
    LoginThrottle,
    LoginTokens,
    Sessions,
    Users,
    csrf_ok,
    hash_password,
    parse_users_file,
    verify_password,
)


def test_hash_verifies_and_never_holds_the_password() -> None:
    line = hash_password("s3cret-pass", salt=b"0123456789abcdef")
    assert line.startswith("scrypt$16384$8$1$") and "s3cret" not in line
    assert verify_password("s3cret-pass", line)
    assert not verify_password("s3cret-pasS", line)
    assert hash_password("s3cret-pass") != hash_password("s3cret-pass")  # fresh salts


@pytest.mark.parametrize("bad", ["", "plain", "md5$x$y", "scrypt$16384$8$1$!!$!!",
                                 "scrypt$99999999999$8$1$AAAA$AAAA", "scrypt$a$b$c$d$e"])
def test_malformed_hash_is_false_not_a_crash(bad: str) -> None:
    assert verify_password("anything", bad) is False


def test_users_unknown_name_fails() -> None:
    users = Users([("alice", hash_password("alice-password"))])
    assert users.check("alice", "alice-password")
    assert not users.check("bob", "alice-password")
    assert not users.check("alice", "")


def test_users_file_lines() -> None:
    h = hash_password("x" * 10)
    assert parse_users_file(f"# ops\n\nalice:{h}\n bob : {h}\n") == [("alice", h), ("bob", h)]
    with pytest.raises(ValueError, match="line 2"):
        parse_users_file(f"alice:{h}\nbob:hunter2\n")


def test_sessions_expire_idle_and_absolute() -> None:
    now = [1000.0]
    s = Sessions(idle_s=60, max_s=300, clock=lambda: now[0])
    a = s.create("alice")
    now[0] += 59
    assert s.get(a.sid) is a  # used: the idle clock restarts
    now[0] += 59
    assert s.get(a.sid) is a
    now[0] += 61
    assert s.get(a.sid) is None and s.get(a.sid) is None  # idle expiry, forgotten
    b = s.create("alice")
    for _ in range(7):  # kept busy, still ends at max_s
        now[0] += 50
        s.get(b.sid)
    assert s.get(b.sid) is None
    assert s.get(None) is None and s.get("") is None


def test_sessions_are_bounded_and_logout_drops() -> None:
    s = Sessions(60, 300, clock=lambda: 0.0)
    first = s.create("a")
    for _ in range(MAX_SESSIONS):
        s.create("b")
    assert s.get(first.sid) is None
    c = s.create("c")
    s.drop(c.sid)
    assert s.get(c.sid) is None


def test_csrf() -> None:
    sess = Sessions(60, 300, clock=lambda: 0.0).create("a")
    assert csrf_ok(sess, sess.csrf)
    assert not csrf_ok(sess, None) and not csrf_ok(sess, "") and not csrf_ok(sess, "x")


def test_throttle_locks_out_then_forgets() -> None:
    now = [0.0]
    t = LoginThrottle(limit=3, window_s=100, clock=lambda: now[0])
    for i in range(3):
        assert t.retry_after("10.0.0.1") == 0
        assert t.failed("10.0.0.1") == i + 1
        now[0] += 10
    assert t.retry_after("10.0.0.1") == pytest.approx(70)  # first failure at 0, window 100
    assert t.retry_after("10.0.0.2") == 0  # per client
    now[0] = 100.5
    assert t.retry_after("10.0.0.1") == 0
    t.failed("10.0.0.2")
    t.succeeded("10.0.0.2")
    assert t.retry_after("10.0.0.2") == 0


def test_login_tokens_signed_matched_and_fresh() -> None:
    now = [5000.0]
    tokens = LoginTokens(ttl_s=600, clock=lambda: now[0], key=b"k" * 32)
    t = tokens.issue()
    assert tokens.problem(t, t) is None and tokens.issue() != t
    assert tokens.problem(None, t) == "no login form cookie"
    assert tokens.problem(t, None) == tokens.problem(t, "") == "no login form token"
    assert tokens.problem(tokens.issue(), t) == "login form token does not match its cookie"
    other = LoginTokens(600, lambda: now[0], key=b"o" * 32).issue()  # another daemon's
    assert tokens.problem(other, other) == "login form token not signed by this daemon"
    nonce, issued, mac = t.split(".")
    moved = f"{nonce}.{int(issued) + 500}.{mac}"  # a forger extending its life
    assert tokens.problem(moved, moved) == "login form token not signed by this daemon"
    for junk in ("é" * 10, "a.b", "...", "x" * 200):
        assert tokens.problem(junk, junk) is not None, junk
    now[0] += 299
    assert tokens.reusable(t)  # more than half its life left: GET /login keeps it
    now[0] += 2
    assert not tokens.reusable(t) and tokens.problem(t, t) is None
    now[0] += 300
    assert tokens.problem(t, t) == "login form token expired"
