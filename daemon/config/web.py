"""The ``web:`` section of the configuration: the operator page (daemon/web)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


_SCRYPT_LINE = r"^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$"
"""``scrypt$N$r$p$salt$hash`` (base64), as ``gatecam web-password`` prints it."""


class WebUserConfig(_Model):
    """One operator of the page: a name (shown in the audit) and a password hash, never the
    password itself (``gatecam web-password`` makes the hash)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$",
                      description="login name, recorded with each manual open")
    password_hash: str = Field(pattern=_SCRYPT_LINE, description="scrypt$N$r$p$salt$hash")


class WebConfig(_Model):
    """The operator page (daemon/web): off by default, loopback unless configured."""

    enabled: bool = Field(False, description="serve the operator page")
    host: str = Field("127.0.0.1", description="bind address; loopback unless a proxy or LAN")
    port: int = Field(8088, ge=0, le=65535, description="0 picks a free port")
    users: list[WebUserConfig] = Field(
        default_factory=list,
        description="operators; more may come from the credential file web_users "
                    "(lines name:hash in $CREDENTIALS_DIRECTORY)",
    )
    session_idle_s: float = Field(1800.0, ge=60, le=86400,
                                  description="a session unused this long expires")
    session_max_s: float = Field(43200.0, ge=300, le=604800,
                                 description="a session expires this long after login anyway")
    secure_cookie: bool = Field(False, description="mark the cookie Secure (behind HTTPS)")
    max_connections: int = Field(16, ge=1, le=256, description="connections served at once")
    threads: int = Field(4, ge=1, le=32, description="request threads")
    timeout_s: float = Field(10.0, gt=0, le=300,
                             description="a connection idle this long is closed")
    login_failures: int = Field(5, ge=1, le=100,
                                description="failed logins per client before a lock-out")
    login_lockout_s: float = Field(300.0, ge=1, le=86400,
                                   description="lock-out after too many failed logins")
