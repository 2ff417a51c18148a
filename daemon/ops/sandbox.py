"""The systemd drop-in that limits the daemon's network to what its configuration needs.

``python -m daemon.ops.sandbox --config /etc/gatecam/gatecam.yaml`` prints it;
scripts/install.sh writes it to ``/etc/systemd/system/gatecam.service.d/network.conf``.

What it restricts: every private, shared and link-local network (RFC 1918, RFC 6598,
169.254/16, fc00::/7, fe80::/10) is denied except the addresses of the cameras, the
broker, the Redis budget server, a database server, an OCR endpoint on the LAN and the
DNS servers (``IPAddressAllow=`` wins over ``IPAddressDeny=``); loopback stays open.
Binding sockets is denied except the metrics port (TCP) and, for a camera using RTSP
over UDP, UDP (FFmpeg binds its RTP ports). What it cannot restrict: the public
internet stays reachable, because the cloud OCR endpoint's addresses change (a name
resolved now is not the address of tomorrow). Host names are resolved when the drop-in
is written: run it again after changing an address.
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from daemon.config.endpoints import TENCENT_DOMAIN
from daemon.config.models import Config, load_config
from daemon.config.secrets import split_credentials
from daemon.errors import ConfigError

LAN_NETWORKS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
                "169.254.0.0/16", "fc00::/7", "fe80::/10")
"""Denied unless an address in them is allowed: the LAN a compromised decoder would probe."""

Resolver = Callable[[str], list[str]]


def resolve(host: str) -> list[str]:
    """Every address ``host`` resolves to now (empty when it does not)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return []
    return sorted({str(info[4][0]) for info in infos})


def nameservers(resolv_conf: Path = Path("/etc/resolv.conf")) -> list[str]:
    """The ``nameserver`` addresses of resolv.conf (empty when it cannot be read)."""
    try:
        lines = resolv_conf.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    return [parts[1] for parts in (ln.split() for ln in lines)
            if len(parts) >= 2 and parts[0] == "nameserver"]


def _host(url: str | None) -> str | None:
    if not url or "://" not in url:
        return None
    parts = split_credentials(url)
    rest = parts[3] if parts else url.split("://", 1)[1]
    try:
        return urlsplit("x://" + rest).hostname
    except ValueError:
        return None


def peers(cfg: Config) -> list[tuple[str, str]]:
    """``(what, host)`` for every LAN peer the configuration names."""
    out = [(f"camera {c.id}", h) for c in cfg.cameras if c.enabled and not c.is_file
           for h in dict.fromkeys((_host(c.url), _host(c.detect_url or c.url))) if h]
    if cfg.mqtt.enabled:
        out.append(("MQTT broker", cfg.mqtt.host))
    for what, url in (("OCR endpoint", cfg.ocr.endpoint),
                      ("OCR failover endpoint", cfg.ocr.failover_endpoint),
                      ("rate-limit server", cfg.ocr.rate_limit_url),
                      ("database", cfg.store.url)):
        host = _host(url)
        if host:
            out.append((what, host))
    return out


def _addresses(host: str, lookup: Resolver) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        return lookup(host)


_LAN = tuple(ipaddress.ip_network(n) for n in LAN_NETWORKS)


def _on_lan(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # fe80::1%eth0
    return any(ip.version == net.version and ip in net for net in _LAN)


def dropin(cfg: Config, dns: Iterable[str], lookup: Resolver = resolve) -> str:
    """The drop-in text for ``cfg``; ``dns`` are the name servers the host uses."""
    lines = ["# Written by scripts/install.sh (python -m daemon.ops.sandbox); rerun it after",
             "# changing a camera, broker or DNS address. The public internet stays open: the",
             "# cloud OCR endpoint's addresses change.", "[Service]",
             "IPAddressDeny=" + " ".join(LAN_NETWORKS), "IPAddressAllow=localhost"]
    for what, host in [*peers(cfg), *(("DNS server", ns) for ns in dns)]:
        if host == TENCENT_DOMAIN or host.endswith("." + TENCENT_DOMAIN):
            lines.append(f"# {what}: {host} (the cloud: not restricted, its addresses change)")
            continue
        found = _addresses(host, lookup)
        lan = [a for a in found if _on_lan(a)]
        if not found:
            lines.append(f"# {what}: {host} (not resolved: allow its address here)")
        elif lan:
            lines += [f"# {what}: {host}", "IPAddressAllow=" + " ".join(lan)]
        else:
            lines.append(f"# {what}: {host} (loopback or internet: not restricted)")
    lines.append("SocketBindDeny=any")
    lines.append("SocketBindAllow=")  # reset the unit's default, then allow what is configured
    h = cfg.health
    if h.metrics_enabled and h.metrics_port:
        lines.append(f"SocketBindAllow=tcp:{h.metrics_port}")
    elif h.metrics_enabled:
        lines += ["# metrics_port 0 picks a free port: any TCP port", "SocketBindAllow=tcp"]
    lines += _web_lines(cfg)
    if any(c.rtsp_transport == "udp" and not c.is_file for c in cfg.cameras if c.enabled):
        lines += ["# RTSP over UDP: FFmpeg binds its RTP ports", "SocketBindAllow=udp"]
    return "\n".join(lines) + "\n"


def _web_lines(cfg: Config) -> list[str]:
    """The operator page's port; a note when it listens beyond loopback (the LAN is denied
    both ways: its clients must be allowed by hand)."""
    w = cfg.web
    if not w.enabled:
        return []
    out = [f"SocketBindAllow=tcp:{w.port}" if w.port else "SocketBindAllow=tcp"]
    if w.host not in ("127.0.0.1", "::1", "localhost"):
        out.append(f"# operator page on {w.host}: add the attendants' addresses or network "
                   "to IPAddressAllow= (the LAN is denied in both directions)")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Print the drop-in for a configuration file; 78 when the file is not valid."""
    p = argparse.ArgumentParser(prog="python -m daemon.ops.sandbox", description=__doc__)
    p.add_argument("--config", "-c", required=True, type=Path)
    p.add_argument("--resolv-conf", type=Path, default=Path("/etc/resolv.conf"))
    args = p.parse_args(argv)
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        for line in exc.lines:
            print(f"config error: {line}", file=sys.stderr)
        return 78
    sys.stdout.write(dropin(cfg, nameservers(args.resolv_conf)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
