"""The daemon as a Pi runs it, for the benches: the unit's ``Environment=`` and
``ExecStartPre=``, an interpreter with the runtime dependencies only, libraries read back
from disk.

RSS depends on all three (one 1080p camera, scripts/bench_resources.py): ``gatecam migrate``
in its own process keeps Alembic (~11 MB) out of the daemon; the test venv's extras are
imported by the daemon's own imports (httpx its CLI's rich, click and pygments, httpcore
trio: 7-17 MB); library pages a fresh pip install left in the page cache as large folios
are mapped whole (102 against 58 MB file-backed for the same imports).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "gatecam.service"


def unit_environment(unit: Path) -> dict[str, str]:
    """The ``Environment=`` assignments of the unit file: measure the daemon as deployed."""
    env: dict[str, str] = {}
    for line in unit.read_text(encoding="utf-8").splitlines():
        if line.startswith("Environment="):
            for item in line.split("=", 1)[1].split():
                key, _, value = item.partition("=")
                env[key] = value.strip('"')
    return env


def unit_prestart(unit: Path) -> list[list[str]]:
    """The gatecam subcommands of the unit's ``ExecStartPre=`` lines (``-`` prefix and the
    program's path dropped), e.g. ``["migrate", "--config", "/etc/gatecam/gatecam.yaml"]``:
    what runs before the daemon on a Pi (``gatecam migrate``, so the daemon never loads
    Alembic, ~11 MB of RSS: daemon/store/migrate.py)."""
    out: list[list[str]] = []
    for line in unit.read_text(encoding="utf-8").splitlines():
        if line.startswith("ExecStartPre="):
            words = line.split("=", 1)[1].lstrip("-@:+!").split()
            if words and Path(words[0]).name == "gatecam":
                out.append(words[1:])
    return out


def with_config(args: list[str], config: Path) -> list[str]:
    """``args`` with the value of ``--config`` replaced by ``config``."""
    return [str(config) if i and args[i - 1] == "--config" else a for i, a in enumerate(args)]


def run_prestart(python: str, config: Path, env: dict[str, str] | None = None) -> None:
    """Run the unit's ``ExecStartPre=`` gatecam commands on ``config``, as systemd does
    before the daemon starts."""
    for words in unit_prestart(UNIT):
        subprocess.run([python, "-m", "daemon", *with_config(words, config)], cwd=ROOT,
                       env=env, check=True, stdout=subprocess.DEVNULL)


def evict_libraries(python: str) -> tuple[int, float]:
    """Drop the shared libraries of ``python``'s environment (its site-packages, the
    interpreter's own) from the page cache: (files, MiB). Why: RSS counts the library pages
    a process maps, and this kernel maps a whole page-cache folio on a fault. Files pip has
    just written sit in the cache as large folios, so the same imports showed 102 MB
    file-backed against 58 MB once read back from disk (readahead), which is how a Pi
    reads them at boot. Only clean pages no process maps are dropped; they are read again."""
    found = subprocess.run([python, "-c", "import sys, sysconfig; print(sys.prefix); "
                            "print(sys.base_prefix); print(sysconfig.get_config_var('LIBDIR'))"],
                           capture_output=True, text=True, check=True).stdout.split()
    roots = [Path(f) for f in dict.fromkeys(found) if Path(f).is_dir()]
    return drop_from_page_cache(p for root in roots for p in root.rglob("*.so*"))


def drop_from_page_cache(paths: Iterable[Path]) -> tuple[int, float]:
    """``posix_fadvise(DONTNEED)`` on each regular file: (files, MiB)."""
    files, size = 0, 0
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            files, size = files + 1, size + os.fstat(fd).st_size
        finally:
            os.close(fd)
    return files, size / 2**20


def runtime_python() -> str:
    """An interpreter whose venv holds gatecam (this checkout, editable) and its runtime
    dependencies only, as scripts/install.sh makes /opt/gatecam/.venv (the GUI opencv-python
    swapped for the headless build). Made once per pyproject.toml in the temp folder."""
    key = hashlib.sha256(ROOT.as_posix().encode() + (ROOT / "pyproject.toml").read_bytes())
    venv = Path(tempfile.gettempdir()) / f"gatecam-runtime-{key.hexdigest()[:12]}"
    python = venv / "bin" / "python"
    if not (venv / ".complete").exists():
        print(f"making a runtime-only venv in {venv} (once)", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "-e", str(ROOT)], check=True)
        subprocess.run([str(ROOT / "scripts/keep-headless-opencv.sh"), str(python)], check=True)
        (venv / ".complete").touch()
    return str(python)
