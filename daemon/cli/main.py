"""The ``gatecam`` command: run, replay, demo, check-config, ocr, plates, allow, migrate, status,
emulate-tencent.

Exit codes: 0 clean, 78 bad configuration (EX_CONFIG: systemd must not restart in a
loop), 1 any other fatal error (systemd restarts the service).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from daemon import __version__
from daemon.config.models import Config, load_config
from daemon.config.secrets import Secrets, load_secrets
from daemon.domain import Passage
from daemon.errors import ConfigError, CredentialsError, GatecamError, exit_code

log = logging.getLogger("daemon.cli.main")

_VERBOSE = [False]
"""``--verbose`` as parsed by main(), for every later logging set-up of the command."""

# The emulator's public, local-only credentials (never valid at Tencent).
DEMO_SECRET_ID = "AKIDgatecamEMULATOR"  # noqa: S105
DEMO_SECRET_KEY = "gatecam-emulator-secret"  # noqa: S105


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["emulate-tencent"]:  # the emulator parses its own options
        _setup_logging("INFO")
        return cmd_emulate(argparse.Namespace(rest=argv[1:]))
    parser = _parser()
    args = parser.parse_args(argv)
    _VERBOSE[0] = bool(args.verbose)
    # The daemon-like commands tell what they do; the others print results, not logs.
    quiet = args.command not in ("run", "replay", "demo")
    _setup_logging(args.log_level or ("WARNING" if quiet else "INFO"))
    try:
        return int(args.func(args))
    except GatecamError as exc:  # one line per problem, no traceback (daemon/errors.py)
        label = "config error" if isinstance(exc, ConfigError) else "error"
        for line in exc.lines:
            print(f"{label}: {line}", file=sys.stderr)
        return exit_code(exc)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gatecam", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"gatecam {__version__}")
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument("--verbose", "-v", action="store_true",
                   help="also show other libraries' INFO lines (httpx, paho, alembic)")
    sub = p.add_subparsers(dest="command", required=True)
    _add_pipeline_commands(sub)
    _add_operator_commands(sub)
    return p


Subparsers = argparse._SubParsersAction  # argparse has no public name for it


def _add_pipeline_commands(sub: Subparsers[argparse.ArgumentParser]) -> None:
    """Commands that run the pipeline: run, replay, demo."""
    run = sub.add_parser("run", help="run the daemon (systemd's ExecStart)")
    run.add_argument("--config", "-c", required=True, type=Path)
    run.add_argument("--strict", action="store_true",
                     help="refuse to start (exit 78) as check-config --strict would")
    run.set_defaults(func=cmd_run)

    rep = sub.add_parser("replay", help="run the full pipeline on a clip as one camera")
    rep.add_argument("clip", type=Path)
    rep.add_argument("--config", "-c", required=True, type=Path)
    rep.add_argument("--camera", help="camera id the clip stands for (default: the first)")
    rep.add_argument("--fast", action="store_true", help="decode as fast as possible")
    rep.set_defaults(func=cmd_replay)

    demo = sub.add_parser("demo", help="replay a clip against an in-process OCR emulator")
    demo.add_argument("--clip", type=Path, required=True)
    demo.add_argument("--config", "-c", type=Path, default=Path("config/demo.yaml"))
    demo.add_argument("--mqtt-port", type=int, help="broker port (default: from the config)")
    demo.add_argument("--db", help="SQLAlchemy URL to record into (default: from the config)")
    demo.add_argument("--page", action=argparse.BooleanOptionalAction, default=None,
                      help="leave the operator page up afterwards until Ctrl-C "
                           "(default: when run from a terminal)")
    demo.add_argument("--page-port", type=int, default=8088, help="its port (0: any free)")
    demo.set_defaults(func=cmd_demo)


def _add_operator_commands(sub: Subparsers[argparse.ArgumentParser]) -> None:
    """Commands for the installer and operator: checks, one OCR call, lists, status."""
    chk = sub.add_parser("check-config", help="validate a configuration file and exit")
    chk.add_argument("file", type=Path)
    chk.add_argument("--strict", action="store_true", help="also fail (exit 78) on missing "
                     "credentials and on placeholders left from the example")
    chk.set_defaults(func=cmd_check_config)

    ocr = sub.add_parser("ocr", help="send one image to the configured OCR and print the result")
    ocr.add_argument("image", type=Path)
    ocr.add_argument("--config", "-c", required=True, type=Path)
    ocr.set_defaults(func=cmd_ocr)

    from daemon.cli.plates import register as register_plates  # table / --csv / --json

    register_plates(sub)

    pre = sub.add_parser("preview", help="grab one live frame and draw the ROI, the read line "
                         "and the plate-size window on it (aiming a camera, drawing the lane)")
    pre.add_argument("--config", "-c", required=True, type=Path)
    pre.add_argument("--camera", help="camera id (default: the first)")
    pre.add_argument("--out", type=Path, help="JPEG to write (default: preview-<camera>.jpg)")
    pre.add_argument("--roi", help='try a lane polygon: "x,y;x,y;..." as fractions of the frame')
    pre.set_defaults(func=cmd_preview)

    mig = sub.add_parser("migrate", help="bring the database schema to this release's "
                         "(the daemon also does it at start)")
    mig.add_argument("--config", "-c", required=True, type=Path)
    mig.set_defaults(func=cmd_migrate)

    st = sub.add_parser("status", help="ask the running daemon's /healthz and print it")
    st.add_argument("--config", "-c", required=True, type=Path)
    st.add_argument("--json", action="store_true", help="print the raw /healthz JSON")
    st.set_defaults(func=cmd_status)

    # Listed for --help only: main() hands "emulate-tencent ..." to the emulator's own parser.
    from daemon.cli.allow import register as register_allow  # stdlib + SQLAlchemy only

    register_allow(sub)

    from daemon.cli.webpassword import register as register_web_password  # stdlib only

    register_web_password(sub)

    sub.add_parser("emulate-tencent", help="serve a local LicensePlateOCR stand-in "
                   "(--port N, --host, --rate-limit)")


def _setup_logging(level: str, fmt: str = "text", secrets: Secrets | None = None) -> None:
    # journald-friendly text or JSON lines, passwords and keys redacted (daemon/logsetup.py).
    from daemon.ops.logsetup import setup_logging

    known = [] if secrets is None else [secrets.secret_id, secrets.secret_key,
                                        secrets.mqtt_password]
    setup_logging(level, fmt, secrets=[s for s in known if s], verbose=_VERBOSE[0])


def _install_signal_handlers(stop: threading.Event) -> None:
    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def cmd_run(args: argparse.Namespace) -> int:
    """Run until SIGTERM/SIGINT."""
    from daemon.app import App

    cfg = load_config(args.config)
    secrets = load_secrets()
    if args.strict:
        _strict(cfg, secrets)
    _setup_logging(args.log_level or cfg.logging.level, cfg.logging.format, secrets)
    app = App(cfg, secrets)
    _install_signal_handlers(app.stop_event)
    app.start()
    try:
        app.stop_event.wait()
    finally:
        app.stop()
    return 0


def _replay_config(cfg: Config, clip: Path, camera_id: str | None) -> Config:
    cam = cfg.camera(camera_id) if camera_id else cfg.cameras[0]
    cam = cam.model_copy(update={"url": str(clip), "loop": False, "enabled": True})
    return cfg.model_copy(update={"cameras": [cam]})


def _print_event(passage: Passage) -> None:
    sys.stdout.write(json.dumps(passage.as_event(), ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _replay(cfg: Config, secrets: Secrets, fast: bool) -> tuple[int, dict[str, int]]:
    from daemon.app import App

    app = App(cfg, secrets, replay=True, fast=fast, on_passage=_print_event)
    _install_signal_handlers(app.stop_event)
    app.start()
    try:
        while not app.wait_replay_done(timeout=0.5):
            if app.stop_event.is_set():
                break
        if not app.drain(timeout=60):
            log.warning("replay: some passages were not delivered before the timeout")
        return app.passages, app.ocr_stats()
    finally:
        app.stop()


def cmd_replay(args: argparse.Namespace) -> int:
    """Play a clip through the full pipeline; one JSON passage event per line on stdout."""
    if not args.clip.is_file():
        print(f"replay: no such clip: {args.clip}", file=sys.stderr)
        return 2
    cfg = load_config(args.config)
    _setup_logging(args.log_level or cfg.logging.level)
    cfg = _replay_config(cfg, args.clip, args.camera)
    _replay(cfg, load_secrets(), args.fast)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Replay a clip with an in-process emulator standing in for Tencent; print a summary."""
    from daemon.ocr.emulator.server import EmulatorServer

    cfg = load_config(args.config)
    emulator = EmulatorServer(credentials={DEMO_SECRET_ID: DEMO_SECRET_KEY})
    emulator.start()
    try:
        mqtt = cfg.mqtt.model_copy(update={"port": args.mqtt_port} if args.mqtt_port else {})
        store = cfg.store.model_copy(update={"url": args.db} if args.db else {})
        ocr = cfg.ocr.model_copy(update={"endpoint": f"http://127.0.0.1:{emulator.port}"})
        cfg = _replay_config(cfg, args.clip, None)
        cfg = cfg.model_copy(update={"mqtt": mqtt, "ocr": ocr, "store": store})
        secrets = Secrets(DEMO_SECRET_ID, DEMO_SECRET_KEY, None)
        passages, stats = _replay(cfg, secrets, fast=True)
    finally:
        emulator.stop()
    print(
        f"gatecam: {passages} passage(s) recorded, {len(emulator.calls)} OCR call(s) to the "
        f"emulator (plate {stats.get('ok', 0)}, no plate {stats.get('no_plate', 0)}, "
        f"failed {stats.get('failures', 0)}, not sent {stats.get('stale', 0)})",
        file=sys.stderr,
    )
    if args.page if args.page is not None else sys.stdin.isatty():
        from daemon.cli.demopage import serve_until_stopped

        stop = threading.Event()
        _install_signal_handlers(stop)
        serve_until_stopped(cfg, args.page_port, stop)
    return 0


def _strict(cfg: Config, secrets: Secrets) -> None:
    from daemon.cli.checks import strict_problems

    if problems := strict_problems(cfg, secrets):
        raise ConfigError(problems)


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate a file: exit 0 and a one-line summary, or 78 and one line per error
    (``--strict``: also missing credentials and placeholders left from the example)."""
    cfg = load_config(args.file)
    secrets = load_secrets()
    if args.strict:
        _strict(cfg, secrets)
    creds = "found" if secrets.secret_id and secrets.secret_key else "MISSING"
    print(
        f"{args.file}: ok: site {cfg.site}, cameras {[c.id for c in cfg.cameras]}, "
        f"OCR {cfg.ocr.endpoint} at {cfg.ocr.rate_limit}/s, store {cfg.store.url}, "
        f"Tencent credentials {creds}"
    )
    return 0


def cmd_ocr(args: argparse.Namespace) -> int:
    """One LicensePlateOCR call with the configured endpoint and credentials."""
    from daemon.cli.checks import read_image
    from daemon.ocr.errors import OcrError
    from daemon.ocr.tencent import TencentOcrClient

    image = read_image(args.image)  # refused here, before any (billed) call
    cfg = load_config(args.config)
    secrets = load_secrets()
    if not (secrets.secret_id and secrets.secret_key):
        raise CredentialsError(
            "no Tencent credentials: set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY")
    client = TencentOcrClient(
        cfg.ocr.endpoint, secrets.secret_id, secrets.secret_key, cfg.ocr.region, cfg.ocr.timeout_s
    )
    try:
        result = client.recognize(image)
    except OcrError as exc:
        print(json.dumps({"error": exc.code, "message": exc.message,
                          "request_id": exc.request_id}, ensure_ascii=False))
        return 1
    finally:
        client.close()
    print(json.dumps({
        "plate": result.plate, "color": result.color, "confidence": result.confidence,
        "category": result.category, "rect": result.rect.as_dict() if result.rect else None,
        "request_id": result.request_id,
    }, ensure_ascii=False))
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    """One live frame with the lane drawn on it (daemon/cli/preview.py)."""
    from daemon.cli.preview import cmd_preview as preview

    return preview(args)


def cmd_migrate(args: argparse.Namespace) -> int:
    """Upgrade the configured database to this release's schema; print what was done."""
    from daemon.store.db import Store

    cfg = load_config(args.config)
    store = Store(cfg.store.url)
    store.close()
    change, shown = store.schema, store.shown_url
    if change.changed:
        print(f"{shown}: schema upgraded from {change.before or 'no version (adopted)'} "
              f"to {change.after}")
    else:
        print(f"{shown}: schema already at {change.after}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Print the daemon's health for a person: 0 alive, 1 stalled, 3 not reachable."""
    from daemon.cli.status import show_status

    return show_status(load_config(args.config), as_json=args.json)


def cmd_emulate(args: argparse.Namespace) -> int:
    """Delegate to the emulator's own command line."""
    from daemon.ocr.emulator.cli import main as emulator_main

    return int(emulator_main(args.rest))
