"""A loopback stand-in for ocr.tencentcloudapi.com: real TC3 checks, rate limit, local plate OCR.

It verifies what the real endpoint verifies (action, version, TC3 signature over
whatever ``SignedHeaders`` lists, known SecretId, 300 s clock skew, body, image,
size, a per-SecretId rate limit over a sliding 1 s window) and answers with the
documented envelope, ``Content-Type: application/json`` and a ``Date`` header.
Plates are read by RapidOCR (PP-OCRv4 models shipped in its wheel) unless a
``reader`` is given (``daemon.ocr.emulator.readers.OracleReader`` answers from ground truth).
Faults follow a :class:`daemon.ocr.emulator.faults.FaultPlan` (``fail_next`` is a shortcut)
and :attr:`EmulatorServer.latency_s`. Every call is logged (:attr:`calls`, and as
JSON lines to ``call_log`` when given) so tests can count calls and measure rates.

Control endpoint (loopback test tool, no auth): ``GET /_control/calls``,
``GET|POST|DELETE /_control/faults`` (POST a rule or a list of rules as JSON).
Run alone with ``gatecam emulate-tencent`` (``--fault-plan``, ``--oracle``, ``--call-log``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import asdict
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from daemon.ocr.emulator.faults import Fault, FaultPlan, FaultRule, parse_plan
from daemon.ocr.emulator.http import CONTROL, Handler
from daemon.ocr.emulator.readers import (
    PLATE_RE,
    PROVINCES,
    OracleReader,
    PlateFound,
    RapidOcrReader,
    estimate_color,
    normalise_plate,
)
from daemon.ocr.emulator.wire import Answer, CallRecord, json_answer, raw_fault, success
from daemon.ocr.signing import ACTION, VERSION, string_to_sign, tc3_signature, utc_date

log = logging.getLogger(__name__)

DEFAULT_SECRET_ID = "AKIDgatecamEMULATOR"  # noqa: S105 - public, emulator-only
DEFAULT_SECRET_KEY = "gatecam-emulator-secret"  # noqa: S105 - a public, emulator-only key
MAX_SKEW_S = 300
MAX_BASE64 = 7 * 1024 * 1024
__all__ = [
    "PLATE_RE",
    "PROVINCES",
    "CallRecord",
    "EmulatorServer",
    "FaultRule",
    "OracleReader",
    "PlateFound",
    "RapidOcrReader",
    "estimate_color",
    "normalise_plate",
]
_AUTH_RE = re.compile(
    r"^TC3-HMAC-SHA256 Credential=(?P<id>[^/\s]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<svc>[^/\s]+)"
    r"/tc3_request, SignedHeaders=(?P<names>[a-z0-9;.-]+), Signature=(?P<sig>[0-9a-f]{64})$"
)

_CLAIMED_ID = re.compile(r"Credential=([^/\s,]+)/")


class _Reject(Exception):  # noqa: N818 - control flow inside the handler, never escapes
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code = code
        self.message = message


# ---------------------------------------------------------------- the server


class EmulatorServer:
    """The emulator on a background thread; ``port`` is known after :meth:`start`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        credentials: dict[str, str] | None = None,
        rate_limit: float = 10.0,
        reader: Callable[[bytes], list[PlateFound]] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        faults: FaultPlan | None = None,
        call_log: Path | None = None,
    ) -> None:
        self.host = host
        self._want_port = port
        self.credentials = dict(credentials or {DEFAULT_SECRET_ID: DEFAULT_SECRET_KEY})
        self.rate_limit = rate_limit
        self.reader = reader if reader is not None else RapidOcrReader()
        self.clock = clock
        """Server wall clock (epoch seconds): drives the skew check and the Date header."""
        self.latency_s = 0.0
        """Extra delay added before every answer (to exercise timeouts)."""
        self._lock = threading.Lock()
        self._calls: list[CallRecord] = []
        self._windows: dict[str, deque[float]] = {}
        self.faults = faults if faults is not None else FaultPlan()
        """The fault plan applied to authenticated, admitted calls."""
        self._call_log: IO[str] | None = (
            call_log.open("a", encoding="utf-8") if call_log is not None else None
        )
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.stopping = False
        """Set by :meth:`stop`: a slow_drip answer still going out stops early."""

    @property
    def port(self) -> int:
        """The bound TCP port."""
        if self._server is None:
            raise RuntimeError("emulator not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://host:port`` for a client's endpoint."""
        return f"http://{self.host}:{self.port}"

    @property
    def calls(self) -> list[CallRecord]:
        """A copy of the call log."""
        with self._lock:
            return list(self._calls)

    def fail_next(self, code: str, times: int = 1) -> None:
        """Answer the next ``times`` authenticated calls with this error code."""
        self.faults.add([FaultRule("error", code, times)])

    def start(self) -> EmulatorServer:
        """Bind and serve on a daemon thread."""
        handler = type("_BoundHandler", (Handler,), {"emulator": self})
        self._server = ThreadingHTTPServer((self.host, self._want_port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="tencent-emulator",
            daemon=True,
        )
        self._thread.start()
        log.info("Tencent emulator on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.stopping = True
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._call_log is not None:
            self._call_log.close()
            self._call_log = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ request checks

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> dict[str, Any]:
        """The ``Response`` object for one request, ignoring wire-level faults (tests, tools)."""
        answer = self.respond(method, path, headers, body)
        try:
            data = json.loads(answer.payload or b"")
        except ValueError:
            return {"Error": {"Code": "Emulator.RawFault", "Message": answer.content_type}}
        response: dict[str, Any] = data["Response"]
        return response

    def respond(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        """The answer to one LicensePlateOCR request (success, error or fault), logged."""
        arrived = self.clock()
        started = time.monotonic()
        secret_id = action = plate = None
        fault = Fault()
        try:
            action = headers.get("x-tc-action")
            claimed = _CLAIMED_ID.search(headers.get("authorization", ""))
            secret_id = claimed[1] if claimed else None
            secret_id = self._authenticate(method, path, headers, body)
            self._admit(secret_id)
            fault = self.faults.draw()
            if fault.rule is not None and fault.rule.kind == "error":
                raise _Reject(str(fault.rule.code), "injected fault")
            plates = self._read(body)
            best = plates[0]
            plate = best.number
            response = success(best, plates)
            code = "OK"
        except _Reject as rej:
            response = {"Error": {"Code": rej.code, "Message": rej.message}}
            code = rej.code
        response["RequestId"] = str(uuid.uuid4())
        answer = json_answer(response)
        delay = self.latency_s + fault.delay_s
        rule = fault.rule
        if rule is not None and rule.kind != "error":
            answer, code = raw_fault(rule, response), f"Fault.{rule.kind}"
            if rule.kind == "timeout":
                delay += rule.latency_s or 30.0
        if delay > 0:
            time.sleep(delay)
        record = CallRecord(
            arrived, secret_id, action, code, plate, time.monotonic() - started,
            rule.kind if rule is not None else None,
        )
        self._log_call(record)
        return answer

    def _log_call(self, record: CallRecord) -> None:
        with self._lock:
            self._calls.append(record)
            if self._call_log is not None:
                self._call_log.write(json.dumps(asdict(record), ensure_ascii=False) + "\n")
                self._call_log.flush()

    def control(self, method: str, path: str, body: bytes) -> Answer:
        """The control endpoint: call log and fault plan as JSON."""
        what = path[len(CONTROL) :].split("?", 1)[0]
        try:
            if what == "calls" and method == "GET":
                result: Any = [asdict(c) for c in self.calls]
            elif what == "faults" and method == "POST":
                self.faults.add(parse_plan(json.loads(body or b"[]")))
                result = self.faults.rules()
            elif what == "faults" and method == "DELETE":
                self.faults.clear()
                result = []
            elif what == "faults" and method == "GET":
                result = self.faults.rules()
            else:
                return Answer(404, "application/json", b'{"error": "no such control"}')
        except ValueError as exc:
            payload = json.dumps({"error": str(exc)}).encode("utf-8")
            return Answer(400, "application/json", payload)
        return Answer(200, "application/json", json.dumps(result, ensure_ascii=False).encode())

    def _authenticate(self, method: str, path: str, headers: dict[str, str], body: bytes) -> str:
        if method != "POST" or path != "/":
            raise _Reject("InvalidParameter", "only POST / is supported")
        if headers.get("x-tc-action") != ACTION:
            raise _Reject("InvalidAction", "the action does not exist")
        if headers.get("x-tc-version") != VERSION:
            raise _Reject("NoSuchVersion", "the API version does not exist")
        auth = _AUTH_RE.match(headers.get("authorization", ""))
        if auth is None:
            raise _Reject("AuthFailure.InvalidAuthorization", "Authorization is malformed")
        names = auth["names"].split(";")
        if "content-type" not in names or "host" not in names:
            raise _Reject("AuthFailure.InvalidAuthorization", "sign content-type and host")
        secret_key = self.credentials.get(auth["id"])
        if secret_key is None:
            raise _Reject("AuthFailure.SecretIdNotFound", "the SecretId is not found")
        try:
            timestamp = int(headers.get("x-tc-timestamp", ""))
        except ValueError:
            raise _Reject("AuthFailure.InvalidAuthorization", "X-TC-Timestamp missing") from None
        if abs(self.clock() - timestamp) > MAX_SKEW_S:
            raise _Reject("AuthFailure.SignatureExpire", "the signature expired")
        if auth["svc"] != "ocr" or auth["date"] != utc_date(timestamp):
            raise _Reject("AuthFailure.SignatureFailure", "the credential scope is wrong")
        if any(name not in headers for name in names):
            raise _Reject("AuthFailure.SignatureFailure", "a signed header is missing")
        signed = {name: headers[name] for name in names}
        to_sign = string_to_sign(timestamp=timestamp, body=body, headers=signed, service="ocr")
        expected = tc3_signature(secret_key, auth["date"], "ocr", to_sign)
        if not hmac.compare_digest(expected, auth["sig"]):
            raise _Reject("AuthFailure.SignatureFailure", "the signature does not match")
        return auth["id"]

    def _admit(self, secret_id: str) -> None:
        now = time.monotonic()
        with self._lock:
            window = self._windows.setdefault(secret_id, deque())
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) + 1 > self.rate_limit:
                raise _Reject("RequestLimitExceeded", "the request rate limit is exceeded")
            window.append(now)

    def _read(self, body: bytes) -> list[PlateFound]:
        try:
            params = json.loads(body)
        except (ValueError, RecursionError):
            raise _Reject("InvalidParameter", "the body is not JSON") from None
        if not isinstance(params, dict):
            raise _Reject("InvalidParameter", "the body is not a JSON object")
        if "ImageUrl" in params:
            raise _Reject("FailedOperation.DownLoadError", "no network here to fetch ImageUrl")
        data = params.get("ImageBase64")
        if data is None:
            raise _Reject("MissingParameter", "ImageBase64 or ImageUrl is required")
        if not isinstance(data, str) or not data:
            raise _Reject("InvalidParameterValue", "ImageBase64 must be a non-empty string")
        if len(data) > MAX_BASE64:
            raise _Reject("LimitExceeded.TooLargeFileError", "the image exceeds 7 MB")
        try:
            image = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise _Reject("InvalidParameterValue", "ImageBase64 is not base64") from None
        is_image = image.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"))
        if not is_image or cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR) is None:
            raise _Reject("FailedOperation.ImageDecodeFailed", "the image cannot be decoded")
        try:
            plates = self.reader(image)
        except Exception:
            log.exception("plate reader failed")
            raise _Reject("InternalError", "internal error") from None
        if not plates:
            raise _Reject("FailedOperation.OcrFailed", "no plate recognised")
        return plates
