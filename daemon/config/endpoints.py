"""Which OCR endpoint URLs the config accepts.

Tencent serves LicensePlateOCR on ``ocr.tencentcloudapi.com`` (nearest region), on
regional hosts ``ocr.<region>.tencentcloudapi.com`` and on the international site
``ocr.intl.tencentcloudapi.com`` (TENCENT_API.md, "Request"). The credential scope
is ``ocr`` whatever the host; the signed ``Host`` is the one really sent.
:func:`check_endpoint` refuses a Tencent host that is not one of those (a typo in a
region would only show up as DNS failures at the gate) or that is not https; any
other host (the local emulator, a proxy) may be http or https.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

TENCENT_DOMAIN = "tencentcloudapi.com"
REGIONS = (
    "ap-guangzhou", "ap-shanghai", "ap-beijing", "ap-nanjing", "ap-chengdu", "ap-chongqing",
    "ap-hongkong", "ap-singapore",
)
"""Regions with a regional OCR host (TENCENT_API.md)."""
TENCENT_HOSTS = frozenset(
    {f"ocr.{TENCENT_DOMAIN}", f"ocr.intl.{TENCENT_DOMAIN}"}
    | {f"ocr.{r}.{TENCENT_DOMAIN}" for r in REGIONS}
)
"""Every Tencent host that serves LicensePlateOCR."""
_URL = re.compile(r"^https?://[^/\s?#]+/?$")


def check_endpoint(url: str) -> str:
    """The endpoint URL if valid, else ValueError saying why (used by the config model)."""
    if not _URL.match(url):
        raise ValueError(f"endpoint must be http(s)://host[:port] with no path, got {url!r}")
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host == TENCENT_DOMAIN or host.endswith("." + TENCENT_DOMAIN):
        if host not in TENCENT_HOSTS:
            known = ", ".join(sorted(TENCENT_HOSTS))
            raise ValueError(f"{host} is not a Tencent OCR host; use one of {known}")
        if parts.scheme != "https":
            raise ValueError(f"Tencent endpoints need https, got {url!r}")
    return url
