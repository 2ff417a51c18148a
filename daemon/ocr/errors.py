"""OCR error taxonomy: every provider or transport failure as an OcrError carrying what to do next.

Tencent codes are mapped by :func:`classify` (TENCENT_API.md, "Errors and what a
client should do"). Local codes describe failures that never reached, or never
came back from, the service:

- ``Timeout``: connect/read/write/pool timeout (httpx) -> RETRY
- ``NetworkError``: connection refused, reset, DNS, TLS -> RETRY
- ``HttpStatus.<n>``: a non-200 answer without an error envelope -> RETRY
  (``HttpStatus.413`` -> REENCODE)
- ``BadResponse``: a body that is not JSON or not the documented envelope -> RETRY_ONCE
- ``ResponseTooLarge``: an answer over the client's size cap (64 KiB) -> RETRY_ONCE
"""

from __future__ import annotations

from enum import Enum

from daemon.errors import GatecamError


class Action(Enum):
    """What the caller should do after an error."""

    RETRY = "retry"
    """Transient (network, timeout, 5xx, InternalError): retry quickly within the deadline."""
    BACKOFF = "backoff"
    """Over the request budget (RequestLimitExceeded*): slow down; do not retry this frame now."""
    NO_PLATE = "no_plate"
    """The service read no plate (FailedOperation.OcrFailed): a normal read; try a better frame."""
    DROP = "drop"
    """This request can never succeed (corrupt image, bad parameters): drop the frame, count it."""
    REENCODE = "reencode"
    """The image is too large: re-encode smaller and retry once."""
    STOP = "stop"
    """Credentials, permission or billing problem: stop calling, alert, keep the daemon alive."""
    RETRY_ONCE = "retry_once"
    """Unknown or malformed outcome: retry at most once."""
    RESYNC_CLOCK = "resync_clock"
    """AuthFailure.SignatureExpire: take server time from Date, re-sign, retry once."""


_EXACT: dict[str, Action] = {
    "AuthFailure.SignatureExpire": Action.RESYNC_CLOCK,
    "AuthFailure.TokenFailure": Action.RETRY,
    "UnauthorizedOperation": Action.STOP,
    "InternalError": Action.RETRY,
    "ServiceUnavailable": Action.RETRY,
    "FailedOperation.UnKnowError": Action.RETRY_ONCE,
    "FailedOperation.OcrFailed": Action.NO_PLATE,
    "FailedOperation.ImageDecodeFailed": Action.DROP,
    "FailedOperation.DownLoadError": Action.DROP,
    "FailedOperation.UnOpenError": Action.STOP,
    "InvalidParameter": Action.DROP,
    "InvalidParameterValue": Action.DROP,
    "MissingParameter": Action.DROP,
    "InvalidAction": Action.DROP,
    "NoSuchVersion": Action.DROP,
    "LimitExceeded.TooLargeFileError": Action.REENCODE,
    "RequestSizeLimitExceeded": Action.REENCODE,
    "Timeout": Action.RETRY,
    "NetworkError": Action.RETRY,
    "BadResponse": Action.RETRY_ONCE,
    "ResponseTooLarge": Action.RETRY_ONCE,
    "HttpStatus.413": Action.REENCODE,
}

_PREFIXES: tuple[tuple[str, Action], ...] = (
    ("AuthFailure.", Action.STOP),
    ("UnauthorizedOperation.", Action.STOP),
    ("ResourceUnavailable.", Action.STOP),
    ("ResourcesSoldOut.", Action.STOP),
    ("RequestLimitExceeded", Action.BACKOFF),
    ("InternalError.", Action.RETRY),
    ("ServiceUnavailable.", Action.RETRY),
    ("InvalidParameter.", Action.DROP),
    ("InvalidParameterValue.", Action.DROP),
    ("MissingParameter.", Action.DROP),
    ("HttpStatus.", Action.RETRY),
)


def _lookup(code: str) -> Action | None:
    action = _EXACT.get(code)
    if action is not None:
        return action
    for prefix, act in _PREFIXES:
        if code.startswith(prefix):
            return act
    return None


BILLING_HINTS = (
    "arrears", "billing", "balance", "resourcepack", "overdue", "unpaid", "payment",
    "charge", "quota",
)
"""Words (case-insensitive) that mark an *unknown* code as a billing refusal.

Tencent adds codes over time; one like ``FailedOperation.ResourcePackExhausted`` would be
retried and billed-for-nothing forever as RETRY_ONCE. Treated as STOP it opens the circuit
(a cool-down, then a probe), which is harmless if the guess is wrong."""


def is_billing_like(code: str) -> bool:
    """True when the code mentions arrears, billing, balance, resource packs or the like."""
    folded = code.replace("_", "").lower()
    return any(hint in folded for hint in BILLING_HINTS)


def classify(code: str) -> Action:
    """The action for an error code; unknown codes get RETRY_ONCE, or STOP if billing-like."""
    action = _lookup(code)
    if action is not None:
        return action
    return Action.STOP if is_billing_like(code) else Action.RETRY_ONCE


TOKEN_FAILURE = "AuthFailure.TokenFailure"  # noqa: S105 - an error code, not a secret
KEY_REJECTED = frozenset({"AuthFailure.SecretIdNotFound", "AuthFailure.SignatureFailure"})
"""Refusals that a key rotation explains: re-read the keys once before opening the circuit."""


def is_transient(code: str) -> bool:
    """Network, timeout, HTTP 5xx or a server-side InternalError/ServiceUnavailable.

    These are the failures that count towards moving to the failover endpoint
    (:class:`daemon.ocr.endpoints.FailoverState`); a refusal or a bad image does not.
    """
    if code in ("Timeout", "NetworkError"):
        return True
    if code.startswith("HttpStatus."):
        return code[len("HttpStatus.") :].startswith("5")
    return code.split(".", 1)[0] in ("InternalError", "ServiceUnavailable")


def is_known(code: str) -> bool:
    """True when the code (or its family prefix) is in the taxonomy; unknown ones are counted."""
    return _lookup(code) is not None


CALL_OUTCOMES = (
    "plate", "no_plate", "rate_limited", "refused", "rejected", "timeout", "network_error",
    "server_error", "bad_response",
)
"""The closed set of outcomes of one call (the ``outcome`` label of ``gatecam_ocr_calls_total``).

``plate`` a plate read; ``no_plate`` the service read none; ``rate_limited``
RequestLimitExceeded*; ``refused`` auth, permission or billing refusals (they open the
circuit); ``rejected`` a request the service cannot serve as sent (bad image or parameters,
too large, expired signature); ``timeout`` and ``network_error`` calls whose arrival is
unknown; ``server_error`` InternalError, ServiceUnavailable, an HTTP error status;
``bad_response`` an unparsable, oversized, or unknown answer."""

_OUTCOME_BY_ACTION = {
    Action.NO_PLATE: "no_plate",
    Action.BACKOFF: "rate_limited",
    Action.STOP: "refused",
    Action.DROP: "rejected",
    Action.REENCODE: "rejected",
    Action.RESYNC_CLOCK: "rejected",
    Action.RETRY: "server_error",
    Action.RETRY_ONCE: "bad_response",
}


def call_outcome(code: str | None) -> str:
    """The :data:`CALL_OUTCOMES` member for one call: None (no error) is ``plate``."""
    if code is None:
        return "plate"
    if code == "Timeout":
        return "timeout"
    if code == "NetworkError":
        return "network_error"
    return _OUTCOME_BY_ACTION[classify(code)]


class OcrError(GatecamError):
    """Root of every OCR failure. Whether it is retried is given by ``action``."""

    def __init__(
        self,
        code: str,
        message: str = "",
        *,
        request_id: str | None = None,
        action: Action | None = None,
        server_time: float | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.request_id = request_id
        self.action = classify(code) if action is None else action
        self.unknown = not is_known(code)
        """True for a code outside the taxonomy (handled as RETRY_ONCE, counted)."""
        self.server_time = server_time
        """Server time (epoch seconds) from the answer's Date header, when known."""


class OcrServiceError(OcrError):
    """Raised when the service answered with an error envelope; the action follows the code."""


class OcrTransportError(OcrError):
    """Raised for ``Timeout``, ``NetworkError`` and ``HttpStatus.<n>``; retried (RETRY)."""


class OcrBadResponseError(OcrError):
    """Raised for an unparsable or malformed answer (``BadResponse``, or ``ResponseTooLarge``
    past the client's size cap); retried at most once."""

    def __init__(
        self, message: str, *, request_id: str | None = None, code: str = "BadResponse"
    ) -> None:
        super().__init__(code, message, request_id=request_id)
