#!/usr/bin/env python3
"""Raspberry Pi reality check: does every runtime dependency have linux aarch64 wheels for
CPython 3.11 (Raspberry Pi OS bookworm) and 3.13 (trixie, the current release)?

Resolves the runtime dependencies of pyproject.toml (and everything they pull in) with
``pip download --only-binary=:all:`` for the platform tags a 64-bit Raspberry Pi OS
bookworm (glibc 2.36) accepts, so nothing would have to be compiled on the Pi. Prints one
line per wheel, then one JSON line per Python version:
``{"ok": bool, "python": "3.11", "wheels": N, "missing": [...]}``; exit 0 only if all pass.

    .venv/bin/python scripts/check_wheels.py [--python-version 3.11 ...] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# manylinux2014 == manylinux_2_17; bookworm's glibc 2.36 also takes the newer ones.
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64", "manylinux_2_31_aarch64",
             "manylinux_2_34_aarch64", "manylinux_2_35_aarch64")


def runtime_deps() -> list[str]:
    """The ``[project] dependencies`` of pyproject.toml."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return list(data["project"]["dependencies"])


def download(reqs: list[str], dest: Path, py: str, *, no_deps: bool) -> tuple[int, str]:
    """Run pip download for aarch64 wheels only; (return code, combined output)."""
    cmd = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--quiet",
           "--python-version", py, "--implementation", "cp", "--abi", f"cp{py.replace('.', '')}",
           "-d", str(dest)]
    for plat in PLATFORMS:
        cmd += ["--platform", plat]
    if no_deps:
        cmd.append("--no-deps")
    res = subprocess.run([*cmd, *reqs], capture_output=True, text=True, check=False)
    return res.returncode, res.stdout + res.stderr


def main() -> int:
    """Each Python version in turn (default: 3.11 and 3.13)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python-version", nargs="+", default=["3.11", "3.13"])
    ap.add_argument("--keep", type=Path, help="download into this folder and keep the wheels")
    args = ap.parse_args()
    results = [check(py, args.keep / py if args.keep else None) for py in args.python_version]
    return 0 if all(results) else 1


def check(python_version: str, keep: Path | None) -> bool:
    """Check the whole tree at once; on failure find which direct dependency lacks a wheel."""
    reqs = runtime_deps()
    with tempfile.TemporaryDirectory() as tmp:
        dest = keep or Path(tmp)
        dest.mkdir(parents=True, exist_ok=True)
        rc, out = download(reqs, dest, python_version, no_deps=False)
        missing: list[str] = []
        if rc != 0:
            for req in reqs:  # which one is it? each on its own, without its tree
                one_rc, one_out = download([req], dest, python_version, no_deps=True)
                if one_rc != 0:
                    missing.append(req)
                    print(f"MISSING {req}: {one_out.strip().splitlines()[-1:]}")
            if not missing:
                missing.append("(a transitive dependency)")
                print(out.strip()[-2000:])
        wheels = sorted(p.name for p in dest.glob("*.whl"))
    for name in wheels:
        tag = re.sub(r"^.*?-(?=cp|py)", "", name)
        print(f"wheel {name.split('-')[0]:<28} {tag}")
    ok = rc == 0 and not missing
    print(f"{'OK' if ok else 'FAIL'}: {len(wheels)} wheel(s) for linux aarch64, "
          f"Python {python_version}", file=sys.stderr)
    print(json.dumps({"ok": ok, "python": python_version, "platforms": list(PLATFORMS),
                      "wheels": len(wheels), "missing": missing}))
    return ok


if __name__ == "__main__":
    sys.exit(main())
