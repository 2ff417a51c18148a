"""Test and bench rig: a private mosquitto on a free loopback port, a collecting subscriber.

``Mosquitto`` runs ``/usr/sbin/mosquitto -c <tmp conf>`` with persistence in its own
temporary folder, saved on every change, so a SIGKILL-ed broker restarted on the
same port still knows persistent sessions (and their queued QoS 1 messages) and
retained messages. It only ever signals the PID it started.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

MOSQUITTO = "/usr/sbin/mosquitto"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, timeout: float = 0.2) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


class Mosquitto:
    """A private broker: ``start()``, ``kill()`` (SIGKILL), ``pause()``/``resume()``
    (SIGSTOP/SIGCONT), ``stop()``, ``restart()``."""

    def __init__(
        self, port: int | None = None, conf_extra: str = "", *, anonymous: bool = True
    ) -> None:
        """Prepare the config; nothing runs until :meth:`start`."""
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="gatecam-mosquitto-"))
        self.log_path = self.dir / "mosquitto.log"
        self.conf_path = self.dir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"allow_anonymous {'true' if anonymous else 'false'}",
            "persistence true",
            f"persistence_location {self.dir}/",
            "autosave_interval 1",
            "autosave_on_changes true",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # or mosquitto drops to a user that cannot write self.dir
        self.conf_path.write_text("\n".join(lines) + "\n" + conf_extra + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> Mosquitto:
        """Spawn mosquitto and wait until the port accepts connections."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.conf_path)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited early:\n{self.log()}")
            if port_open(self.port):
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"mosquitto did not listen on {self.port}:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL our broker (no clean shutdown, no final save)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self.proc = None

    def pause(self) -> None:
        """SIGSTOP our broker: connections stay open, nothing is read or acknowledged."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM (mosquitto saves its database), SIGKILL if it lingers."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def restart(self, *, hard: bool = False) -> Mosquitto:
        """Stop (or kill) and start again on the same port with the same persistence."""
        if hard:
            self.kill()
        else:
            self.stop()
        return self.start()

    def log(self) -> str:
        """The broker's log so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def cleanup(self) -> None:
        """Stop the broker and remove its folder."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()


@dataclass(frozen=True)
class Received:
    """One message as the subscriber got it."""

    topic: str
    payload: str
    retain: bool
    qos: int
    at: float = 0.0
    """``time.time()`` when it arrived."""
    raw: bytes = b""
    """The payload's bytes (``payload`` is their UTF-8 text)."""


class Subscriber:
    """A paho client that subscribes on every connect and collects what it receives."""

    def __init__(
        self,
        port: int,
        topics: tuple[str, ...] = ("#",),
        *,
        client_id: str = "",
        clean_session: bool = True,
        qos: int = 1,
        ca_file: Path | None = None,
        cert: tuple[Path, Path] | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        """Connect in the background; :meth:`wait_connected` to be sure it subscribed.

        ``ca_file`` turns TLS on (``cert`` = (certfile, keyfile) for a client certificate).
        """
        self.messages: list[Received] = []
        self._topics = topics
        self._qos = qos
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean_session
        )
        self.client.reconnect_delay_set(1, 2)
        if username is not None:
            self.client.username_pw_set(username, password)
        if ca_file is not None:
            self.client.tls_set(
                ca_certs=str(ca_file),
                certfile=str(cert[0]) if cert else None,
                keyfile=str(cert[1]) if cert else None,
            )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.connect_async("127.0.0.1", port, keepalive=10)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if not rc.is_failure:
            client.subscribe([(t, self._qos) for t in self._topics])

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, _rc: Any, _p: Any) -> None:
        self._subscribed.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, _rc: Any, _p: Any) -> None:
        self._subscribed.clear()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(
                # a binary payload (a snapshot JPEG) is kept in raw; its text is lossy
                Received(msg.topic, msg.payload.decode("utf-8", errors="replace"),
                         bool(msg.retain), msg.qos, time.time(), bytes(msg.payload))
            )
            self._cond.notify_all()

    def wait_connected(self, timeout: float = 5.0) -> bool:
        """True once connected and subscribed."""
        return self._subscribed.wait(timeout)

    def matching(self, pattern: str) -> list[Received]:
        """Messages whose topic matches an MQTT filter (``+``/``#``) or an fnmatch glob."""
        with self._cond:
            return [m for m in self.messages if _match(pattern, m.topic)]

    def wait_for(self, pattern: str, n: int = 1, timeout: float = 10.0) -> list[Received]:
        """Wait until ``n`` messages match ``pattern``, return them; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [m for m in self.messages if _match(pattern, m.topic)]
                left = deadline - time.monotonic()
                if len(got) >= n:
                    return got
                if left <= 0:
                    raise AssertionError(
                        f"{len(got)}/{n} messages on {pattern!r} after {timeout} s; "
                        f"topics seen: {sorted({m.topic for m in self.messages})}"
                    )
                self._cond.wait(left)

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        with contextlib.suppress(Exception):
            self.client.disconnect()
        self.client.loop_stop()


def _match(pattern: str, topic: str) -> bool:
    if "+" in pattern or "#" in pattern:
        return bool(mqtt.topic_matches_sub(pattern, topic))
    return pattern == topic or fnmatch.fnmatchcase(topic, pattern)
