"""``gatecam web-password``: make the scrypt hash of an operator's password for ``web.users``.

Asks twice on a terminal (nothing echoed), or reads one line from standard input
(``--stdin``, for scripts); prints only the hash (or ``name:hash`` with ``--name``, a line
of the ``web_users`` credential file). The password itself is never printed or stored.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any, TextIO

MIN_LENGTH = 8


def register(sub: Any) -> None:
    """Add ``web-password`` to the main parser's subparsers."""
    p = sub.add_parser("web-password", help="print the hash of an operator page password",
                       description=(__doc__ or "").split("\n\n")[1])
    p.add_argument("--stdin", action="store_true", help="read the password from stdin")
    p.add_argument("--name", help="print name:hash (a line of the web_users credential file)")
    p.set_defaults(func=cmd_web_password)


def cmd_web_password(args: argparse.Namespace, *, stdin: TextIO | None = None,
                     out: TextIO | None = None) -> int:
    """Print the hash; 2 when the password is too short, empty or the two differ."""
    from daemon.web.auth import hash_password  # noqa: PLC0415 (hashlib only; keep cli light)

    out = out or sys.stdout
    if args.stdin:
        password = (stdin or sys.stdin).readline().rstrip("\r\n")
    else:
        password = getpass.getpass("operator password: ")
        if getpass.getpass("again: ") != password:
            print("web-password: the two passwords differ", file=sys.stderr)
            return 2
    if len(password) < MIN_LENGTH:
        print(f"web-password: use at least {MIN_LENGTH} characters", file=sys.stderr)
        return 2
    line = hash_password(password)
    out.write(f"{args.name}:{line}\n" if args.name else f"{line}\n")
    return 0
