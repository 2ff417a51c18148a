"""Who may use the operator page: password hashes, sessions, CSRF tokens, login throttling.

Pure logic with the clock passed in; the WSGI layer (daemon/web/routes.py) calls it.

- Passwords are stored as ``scrypt$N$r$p$salt$hash`` (``hashlib.scrypt``, stdlib; N=2^14,
  r=8: 16 MiB and about 50 ms per check on the dev VM). Checks run one at a time (a lock),
  so a burst of logins never holds more than one 16 MiB buffer.
- Sessions live in memory only (a restart logs everyone out): a random 256-bit id in an
  HttpOnly, SameSite=Strict cookie, its own random CSRF token, an idle and an absolute
  expiry, at most :data:`MAX_SESSIONS` (the oldest goes first).
- :class:`LoginThrottle` counts failures per client address in a sliding window; past the
  limit the client is locked out (429) until the window passes.
- :class:`LoginTokens` guards the login form itself (no session yet to bind a token to): a
  signed double-submit token. ``GET /login`` puts ``nonce.issued.hmac`` both in a
  short-lived HttpOnly cookie and in the form; the POST must carry the same value in both,
  with a signature made by this process's random key and younger than the token's lifetime.
  A forged cross-site form can neither read the cookie nor sign a value of its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
MAX_SESSIONS = 64
"""Sessions kept at once; a car park has a handful of attendants."""
MAX_CLIENTS_TRACKED = 4096
"""Client addresses whose failures are remembered (oldest forgotten first)."""

_verify_lock = threading.Lock()


def hash_password(password: str, salt: bytes | None = None) -> str:
    """The ``scrypt$N$r$p$salt$hash`` line for ``password`` (a fresh random salt)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R,
                            p=SCRYPT_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches the ``stored`` hash; False for a malformed hash."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        n_i, r_i, p_i = int(n), int(r), int(p)
        want = base64.b64decode(digest, validate=True)
        salt_b = base64.b64decode(salt, validate=True)
    except ValueError:
        return False
    if not (2 <= n_i <= 2**20 and 1 <= r_i <= 16 and 1 <= p_i <= 4):  # bound the cost
        return False
    with _verify_lock:
        got = hashlib.scrypt(password.encode("utf-8", "replace"), salt=salt_b, n=n_i, r=r_i,
                             p=p_i, dklen=len(want), maxmem=256 * 1024 * 1024)
    return hmac.compare_digest(got, want)


class Users:
    """Operator names and their hashes; checking costs the same for an unknown name."""

    def __init__(self, users: Iterable[tuple[str, str]]) -> None:
        self._hashes = dict(users)
        self._dummy = hash_password(secrets.token_hex(8))

    def __len__(self) -> int:
        return len(self._hashes)

    def check(self, name: str, password: str) -> bool:
        """True for a known name with its password (an unknown name takes as long)."""
        stored = self._hashes.get(name)
        ok = verify_password(password, stored if stored is not None else self._dummy)
        return ok and stored is not None


def parse_users_file(text: str) -> list[tuple[str, str]]:
    """``name:hash`` lines (blank lines and ``#`` comments skipped); ValueError names a line."""
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, stored = (part.strip() for part in line.partition(":"))
        if not sep or not name or not stored.startswith("scrypt$"):
            raise ValueError(f"web_users line {n}: expected name:scrypt$..., "
                             "made with gatecam web-password")
        out.append((name, stored))
    return out


@dataclass
class Session:
    """One logged-in operator."""

    sid: str
    user: str
    csrf: str
    created: float
    seen: float


class Sessions:
    """In-memory sessions with an idle and an absolute expiry (thread-safe)."""

    def __init__(self, idle_s: float, max_s: float, clock: Callable[[], float]) -> None:
        self._idle = idle_s
        self._max = max_s
        self._clock = clock
        self._by_id: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def create(self, user: str) -> Session:
        """A new session for ``user`` (the oldest is dropped past :data:`MAX_SESSIONS`)."""
        now = self._clock()
        s = Session(secrets.token_urlsafe(32), user, secrets.token_urlsafe(32), now, now)
        with self._lock:
            while len(self._by_id) >= MAX_SESSIONS:
                self._by_id.popitem(last=False)
            self._by_id[s.sid] = s
        return s

    def get(self, sid: str | None) -> Session | None:
        """The live session for cookie value ``sid`` (its idle clock restarts); None if
        unknown or expired (an expired one is forgotten)."""
        if not sid:
            return None
        now = self._clock()
        with self._lock:
            s = self._by_id.get(sid)
            if s is None:
                return None
            if now - s.seen > self._idle or now - s.created > self._max:
                del self._by_id[sid]
                return None
            s.seen = now
            return s

    def drop(self, sid: str | None) -> None:
        """Log out."""
        with self._lock:
            self._by_id.pop(sid or "", None)


def csrf_ok(session: Session, token: str | None) -> bool:
    """True when the form's token is the session's (constant-time compare)."""
    return bool(token) and hmac.compare_digest(session.csrf.encode(), (token or "").encode())


class LoginTokens:
    """Pre-session CSRF tokens for the login form: signed double-submit (cookie and field).

    The key is random per process (a restart invalidates open login forms: reload). Times
    come from ``clock`` (monotonic seconds), so a token cannot outlive ``ttl_s``."""

    def __init__(self, ttl_s: float, clock: Callable[[], float],
                 key: bytes | None = None) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._key = key if key is not None else secrets.token_bytes(32)

    def _sign(self, body: str) -> str:
        mac = hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")

    def issue(self) -> str:
        """A fresh token for a login form and its cookie."""
        body = f"{secrets.token_urlsafe(16)}.{int(self._clock())}"
        return f"{body}.{self._sign(body)}"

    def problem(self, cookie: str | None, field: str | None, *, ttl_s: float | None = None
                ) -> str | None:
        """Why a login POST with this cookie and form field is refused, or None if sound
        (``ttl_s``: a shorter lifetime than the configured one)."""
        if not cookie or not field:
            return "no login form token" if not field else "no login form cookie"
        if len(field) > 128 or not (field.isascii() and cookie.isascii()):
            return "login form token malformed"
        if not hmac.compare_digest(cookie, field):
            return "login form token does not match its cookie"
        body, _, mac = field.rpartition(".")
        _, _, issued = body.partition(".")
        if not issued.isdigit() or not hmac.compare_digest(self._sign(body), mac):
            return "login form token not signed by this daemon"
        age = self._clock() - int(issued)
        if not -1 <= age <= (self.ttl_s if ttl_s is None else ttl_s):  # 1 s of rounding
            return "login form token expired"
        return None

    def reusable(self, token: str | None) -> bool:
        """True for a sound token with at least half its life left: ``GET /login`` keeps it,
        so two open login tabs do not invalidate each other."""
        return self.problem(token, token, ttl_s=self.ttl_s / 2) is None


class LoginThrottle:
    """Failed logins per client in a sliding window; a client past the limit waits."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float]) -> None:
        self._limit = limit
        self._window = window_s
        self._clock = clock
        self._fails: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> float:
        """Seconds ``client`` must wait before another try (0: may try now)."""
        now = self._clock()
        with self._lock:
            q = self._fails.get(client)
            if q is None:
                return 0.0
            while q and q[0] <= now - self._window:
                q.popleft()
            if len(q) < self._limit:
                return 0.0
            return max(0.0, q[0] + self._window - now)

    def failed(self, client: str) -> int:
        """Count a failure; returns the failures in the window."""
        now = self._clock()
        with self._lock:
            q = self._fails.pop(client, None) or deque()
            q.append(now)
            self._fails[client] = q  # most recent last
            while len(self._fails) > MAX_CLIENTS_TRACKED:
                self._fails.popitem(last=False)
            return len(q)

    def succeeded(self, client: str) -> None:
        """A good login clears the client's failures."""
        with self._lock:
            self._fails.pop(client, None)
