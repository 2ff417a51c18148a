"""Readable configuration errors: the YAML line, the key path, the bad value and why.

Pure: takes pydantic's ValidationError (or a YAML error) and the composed YAML node
tree, returns the lines ``gatecam check-config`` prints. A secret put in the YAML is
named as such and its value never echoed. These lines are printed, outside the log
filter, so every one is redacted here: the value echoed (a whole camera mapping for a
missing key) has each URL's password replaced (daemon/config/secrets.py redact_url),
and every URL password found anywhere in the input (:func:`url_passwords`) is scrubbed
from the final line, validator messages included.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml
from pydantic import ValidationError

from daemon.config.secrets import redact_text, redact_url, url_password

_SECRET_KEYS = {"secret_id", "secret_key", "secretid", "secretkey", "password",
                "secret", "hmac_secret", "hmac_key", "token", "api_key"}


def yaml_problem(exc: yaml.YAMLError, source: str) -> str:
    """One line: ``file:LINE:COL: not valid YAML: problem (context at line N)``."""
    mark, cmark = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
    where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    ctx = f" ({context} at line {cmark.line + 1})" if cmark and context else ""
    return f"{source}{where}: not valid YAML: {problem}{ctx}"


def url_passwords(data: Any) -> set[str]:
    """The password of every URL among the strings in ``data`` (nested lists and mappings)."""
    found: set[str] = set()
    if isinstance(data, str):
        password = url_password(data)
        if password:
            found.add(password)
    elif isinstance(data, dict):
        for key, value in data.items():
            found |= url_passwords(key) | url_passwords(value)
    elif isinstance(data, list | tuple):
        for item in data:
            found |= url_passwords(item)
    return found


def redact_value(value: Any) -> Any:
    """``value`` with every URL's password hidden and secret-named keys' values replaced."""
    if isinstance(value, str):
        return redact_url(value) if "://" in value else value
    if isinstance(value, dict):
        return {k: "<redacted>" if str(k).lower() in _SECRET_KEYS else redact_value(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v) for v in value)
    return value


def safe_line(line: str, secrets: Iterable[str] = ()) -> str:
    """``line`` with URL passwords, known secrets and ``secrets`` replaced by ``***``."""
    return redact_text(line, secrets)


def describe_errors(
    exc: ValidationError, root: yaml.Node | None, source: str, secrets: Iterable[str] = (),
) -> list[str]:
    """One line per validation error: ``file:LINE: key -> path: reason (got value)``.

    ``secrets`` (the URL passwords of the input, :func:`url_passwords`) never appear.
    """
    secrets = tuple(secrets)
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = " -> ".join(str(p) for p in loc) or "(top level)"
        line = _line_of(root, loc)
        where = f"{source}:{line}" if line else source
        msg = err["msg"]
        if err["type"] == "extra_forbidden" and str(loc[-1]).lower() in _SECRET_KEYS:
            msg = "secrets never go in the YAML file; use the environment or $CREDENTIALS_DIRECTORY"
            value = "<redacted>"
        elif str(loc[-1]).lower() == "password_hash":  # a password pasted in place of its hash
            msg = "expected the scrypt$... line that gatecam web-password prints"
            value = "<redacted>"
        else:
            value = _short(redact_value(err.get("input")))
        lines.append(safe_line(f"{where}: {key}: {msg} (got {value})", secrets))
    return lines


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based YAML line of the deepest node along ``loc`` that exists."""
    best = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                    best, nxt = k.start_mark.line + 1, v
                    break
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if part < len(node.value) else None
            if node is not None:
                best = node.start_mark.line + 1
        else:
            break
        if node is None:
            break
    return best
