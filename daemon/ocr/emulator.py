"""A loopback stand-in for ocr.tencentcloudapi.com: real TC3 checks, rate limit, local plate OCR.

It verifies what the real endpoint verifies (action, version, TC3 signature over
whatever ``SignedHeaders`` lists, known SecretId, 300 s clock skew, body, image,
size, a per-SecretId rate limit over a sliding 1 s window) and answers with the
documented envelope, ``Content-Type: application/json`` and a ``Date`` header.
Plates are read by RapidOCR (PP-OCRv4 models shipped in its wheel) unless a
``reader`` is given. Faults can be injected with :meth:`EmulatorServer.fail_next`
and :attr:`EmulatorServer.latency_s`. Run alone with ``gatecam emulate-tencent``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hmac
import json
import logging
import os
import re
import signal
import threading
import time
import unicodedata
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np

from daemon.domain import Rect
from daemon.ocr.tencent import ACTION, VERSION, string_to_sign, tc3_signature, utc_date

log = logging.getLogger(__name__)

DEFAULT_SECRET_ID = "AKIDgatecamEMULATOR"  # noqa: S105 - public, emulator-only
DEFAULT_SECRET_KEY = "gatecam-emulator-secret"  # noqa: S105 - a public, emulator-only key
MAX_SKEW_S = 300
MAX_BASE64 = 7 * 1024 * 1024
MAX_BODY = 12 * 1024 * 1024
PROVINCES = "京津沪渝冀晋蒙辽吉黑苏浙皖闽赣鲁豫鄂湘粤桂琼川贵云藏陕甘青宁新"
PLATE_RE = re.compile(rf"^[{PROVINCES}][A-Z][A-Z0-9]{{4,5}}[A-Z0-9挂学警领港澳试超]$")
_AUTH_RE = re.compile(
    r"^TC3-HMAC-SHA256 Credential=(?P<id>[^/\s]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<svc>[^/\s]+)"
    r"/tc3_request, SignedHeaders=(?P<names>[a-z0-9;.-]+), Signature=(?P<sig>[0-9a-f]{64})$"
)

_CLAIMED_ID = re.compile(r"Credential=([^/\s,]+)/")


@dataclass(frozen=True, slots=True)
class PlateFound:
    """One plate a reader found, in the image's pixels."""

    number: str
    confidence: int
    rect: Rect
    color: str
    category: str = "实体车牌"


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One request the emulator answered."""

    at: float
    """Wall-clock arrival time (epoch seconds)."""
    secret_id: str | None
    action: str | None
    code: str
    """``OK`` or the error code returned."""
    plate: str | None
    latency_s: float


class _Reject(Exception):  # noqa: N818 - control flow inside the handler, never escapes
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code = code
        self.message = message


# ---------------------------------------------------------------- the default reader


def normalise_plate(text: str) -> str:
    """NFKC, drop separators and spaces, upper-case: ``京A·F0236`` -> ``京AF0236``."""
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"[\s·•・.\-]", "", text).upper()


def estimate_color(image: np.ndarray[Any, Any], rect: Rect) -> str:
    """Plate colour from the box's pixels: 蓝 / 黄 / 绿 / 白 / 黑."""
    crop = image[max(rect.y, 0) : rect.y + rect.height, max(rect.x, 0) : rect.x + rect.width]
    if crop.size == 0 or crop.ndim != 3:
        return "其它"
    hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV).reshape(-1, 3)
    saturated = hsv[(hsv[:, 1] > 80) & (hsv[:, 2] > 50)]
    # 0.15, not a majority: new-energy plates are a white-to-green gradient.
    if len(saturated) >= 0.15 * len(hsv):
        hue = float(np.median(saturated[:, 0]))
        if 90 <= hue <= 135:
            return "蓝"
        if 12 <= hue < 35:
            return "黄"
        if 35 <= hue < 90:
            return "绿"
        return "其它"
    return "白" if float(hsv[:, 2].mean()) > 127 else "黑"


class RapidOcrReader:
    """Reads Chinese plates with RapidOCR; the engine loads once and runs under a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._engine: Any = None

    def __call__(self, image: bytes) -> list[PlateFound]:
        """Every text line that looks like a mainland plate, best first."""
        arr = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR)
        if arr is None:
            return []
        with self._lock:
            if self._engine is None:
                from rapidocr_onnxruntime import RapidOCR  # noqa: PLC0415 - heavy, optional

                self._engine = RapidOCR()
            lines, _ = self._engine(arr)
        found = []
        for box, text, score in lines or []:
            number = normalise_plate(str(text))
            if not PLATE_RE.match(number):
                continue
            xs = [round(p[0]) for p in box]
            ys = [round(p[1]) for p in box]
            rect = Rect(min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
            conf = max(0, min(100, round(float(score) * 100)))
            found.append(PlateFound(number, conf, rect, estimate_color(arr, rect)))
        return sorted(found, key=lambda p: -p.confidence)


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
        self._faults: deque[str] = deque()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

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
        with self._lock:
            self._faults.extend([code] * times)

    def start(self) -> EmulatorServer:
        """Bind and serve on a daemon thread."""
        handler = type("_BoundHandler", (_Handler,), {"emulator": self})
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
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ request checks

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> dict[str, Any]:
        """The ``Response`` object for one request (success or error envelope), and log it."""
        started = time.monotonic()
        secret_id = action = plate = None
        try:
            action = headers.get("x-tc-action")
            claimed = _CLAIMED_ID.search(headers.get("authorization", ""))
            secret_id = claimed[1] if claimed else None
            secret_id = self._authenticate(method, path, headers, body)
            self._admit(secret_id)
            plates = self._read(body)
            best = plates[0]
            plate = best.number
            response = _success(best, plates)
            code = "OK"
        except _Reject as rej:
            response = {"Error": {"Code": rej.code, "Message": rej.message}}
            code = rej.code
        response["RequestId"] = str(uuid.uuid4())
        if self.latency_s > 0:
            time.sleep(self.latency_s)
        record = CallRecord(
            self.clock(), secret_id, action, code, plate, time.monotonic() - started
        )
        with self._lock:
            self._calls.append(record)
        return response

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
            fault = self._faults.popleft() if self._faults else None
        if fault is not None:
            raise _Reject(fault, "injected fault")

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


def _rect_json(rect: Rect) -> dict[str, int]:
    return {"X": rect.x, "Y": rect.y, "Width": rect.width, "Height": rect.height}


def _success(best: PlateFound, plates: list[PlateFound]) -> dict[str, Any]:
    return {
        "Number": best.number,
        "Confidence": best.confidence,
        "Rect": _rect_json(best.rect),
        "Color": best.color,
        "LicensePlateInfos": [
            {
                "Number": p.number,
                "Confidence": p.confidence,
                "Rect": _rect_json(p.rect),
                "Color": p.color,
                "LicensePlateCategory": p.category,
            }
            for p in plates
        ],
        "LicensePlateCategory": best.category,
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so a pooled client reuses connections
    emulator: EmulatorServer

    def do_POST(self) -> None:
        self._serve("POST")

    def do_GET(self) -> None:
        self._serve("GET")

    def _serve(self, method: str) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            self._answer(
                {
                    "Error": {"Code": "RequestSizeLimitExceeded", "Message": "too large"},
                    "RequestId": str(uuid.uuid4()),
                }
            )
            return
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        self._answer(self.emulator.handle(method, self.path, headers, body))

    def _answer(self, response: dict[str, Any]) -> None:
        payload = json.dumps({"Response": response}, ensure_ascii=False).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header follows the emulator's clock (so skew tests can move it)."""
        return super().date_time_string(self.emulator.clock() if timestamp is None else timestamp)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


def main(argv: Sequence[str] | None = None) -> int:
    """``gatecam emulate-tencent``: serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="gatecam emulate-tencent")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rate-limit", type=float, default=10.0)
    args = parser.parse_args(argv)
    secret_id = os.environ.get("TENCENTCLOUD_SECRET_ID") or DEFAULT_SECRET_ID
    secret_key = os.environ.get("TENCENTCLOUD_SECRET_KEY") or DEFAULT_SECRET_KEY
    done = threading.Event()

    def _stop(_sig: int, _frame: object) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server = EmulatorServer(
        args.host, args.port, {secret_id: secret_key}, rate_limit=args.rate_limit
    ).start()
    print(f"listening on http://{args.host}:{server.port}", flush=True)
    try:
        done.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
