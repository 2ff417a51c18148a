"""Tests for the error taxonomy: every documented code maps to the documented action."""

from __future__ import annotations

import pytest

from daemon.ocr.errors import Action, OcrError, classify


@pytest.mark.parametrize(
    ("code", "action"),
    [
        ("AuthFailure.SignatureExpire", Action.RESYNC_CLOCK),
        ("AuthFailure.SignatureFailure", Action.STOP),
        ("AuthFailure.SecretIdNotFound", Action.STOP),
        ("AuthFailure.InvalidSecretId", Action.STOP),
        ("AuthFailure.InvalidAuthorization", Action.STOP),
        ("AuthFailure.UnauthorizedOperation", Action.STOP),
        ("AuthFailure.SomethingNew", Action.STOP),
        ("UnauthorizedOperation", Action.STOP),
        ("AuthFailure.TokenFailure", Action.RETRY),
        ("RequestLimitExceeded", Action.BACKOFF),
        ("RequestLimitExceeded.UinLimitExceeded", Action.BACKOFF),
        ("RequestLimitExceeded.GlobalRegionUinLimitExceeded", Action.BACKOFF),
        ("RequestLimitExceeded.IPLimitExceeded", Action.BACKOFF),
        ("InternalError", Action.RETRY),
        ("ServiceUnavailable", Action.RETRY),
        ("Timeout", Action.RETRY),
        ("NetworkError", Action.RETRY),
        ("HttpStatus.502", Action.RETRY),
        ("HttpStatus.413", Action.REENCODE),
        ("BadResponse", Action.RETRY_ONCE),
        ("FailedOperation.UnKnowError", Action.RETRY_ONCE),
        ("FailedOperation.OcrFailed", Action.NO_PLATE),
        ("FailedOperation.ImageDecodeFailed", Action.DROP),
        ("FailedOperation.DownLoadError", Action.DROP),
        ("InvalidParameterValue.InvalidParameterValueLimit", Action.DROP),
        ("InvalidParameter", Action.DROP),
        ("MissingParameter", Action.DROP),
        ("LimitExceeded.TooLargeFileError", Action.REENCODE),
        ("RequestSizeLimitExceeded", Action.REENCODE),
        ("FailedOperation.UnOpenError", Action.STOP),
        ("ResourceUnavailable.InArrears", Action.STOP),
        ("ResourceUnavailable.ResourcePackageRunOut", Action.STOP),
        ("ResourcesSoldOut.ChargeStatusException", Action.STOP),
        ("SomethingNobodyDocumented", Action.RETRY_ONCE),
        # Unknown codes that smell of billing open the circuit (issue 12, item 18).
        ("FailedOperation.ArrearsError", Action.STOP),
        ("FailedOperation.BillingFailed", Action.STOP),
        ("FailedOperation.InsufficientBalance", Action.STOP),
        ("LimitExceeded.ResourcePackExhausted", Action.STOP),
        ("FailedOperation.ACCOUNT_OVERDUE", Action.STOP),
        ("FailedOperation.FreeQuotaUsedUp", Action.STOP),
    ],
)
def test_classify(code: str, action: Action) -> None:
    assert classify(code) is action


def test_error_carries_code_action_and_request_id() -> None:
    err = OcrError("RequestLimitExceeded", "slow down", request_id="r-1")
    assert (err.code, err.message, err.request_id) == ("RequestLimitExceeded", "slow down", "r-1")
    assert err.action is Action.BACKOFF
    assert "RequestLimitExceeded" in str(err)


def test_billing_like_unknown_codes_stay_counted_as_unknown() -> None:
    err = OcrError("FailedOperation.ResourcePackRunOut")
    assert err.action is Action.STOP and err.unknown
    assert not OcrError("ResourceUnavailable.InArrears").unknown


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (None, "plate"),
        ("FailedOperation.OcrFailed", "no_plate"),
        ("RequestLimitExceeded.UinLimitExceeded", "rate_limited"),
        ("ResourceUnavailable.InArrears", "refused"),
        ("FailedOperation.ResourcePackExhausted", "refused"),  # unknown but billing-like
        ("AuthFailure.SignatureFailure", "refused"),
        ("FailedOperation.ImageDecodeFailed", "rejected"),
        ("LimitExceeded.TooLargeFileError", "rejected"),
        ("AuthFailure.SignatureExpire", "rejected"),
        ("Timeout", "timeout"),
        ("NetworkError", "network_error"),
        ("InternalError", "server_error"),
        ("HttpStatus.502", "server_error"),
        ("BadResponse", "bad_response"),
        ("Brand.NewCode", "bad_response"),
    ],
)
def test_call_outcome_is_a_closed_set(code: str | None, outcome: str) -> None:
    from daemon.ocr.errors import CALL_OUTCOMES, call_outcome

    assert call_outcome(code) == outcome
    assert outcome in CALL_OUTCOMES
