"""Database passwords never shown, never stored, never written to a file.

A password can sit in two places of a database URL: the userinfo (``user:pw@host``) and the query string
(``?password=pw``, also ``passwd``, ``pwd`` and any key holding "password", "secret" or "token", in any case).
:func:`mask_url` is the one way a URL is shown or stored (reports, ``batch_sources.location``, ``db status``,
``run --json``, error messages). :func:`split_url` and :func:`join_url` let a URL travel to another process
without its secrets (they go through a pipe, never through a file), and :func:`scrub` removes from a free text
(an error message from a driver, a failure recorded in the target) every password this process has seen in a
URL (:func:`remember`) and anything shaped like one.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

MASK = "***"
_SENSITIVE = re.compile(r"passw|pwd|secret|token|passphrase", re.IGNORECASE)
# userinfo of any scheme://user:pw@ (the password may hold anything but "@" and whitespace)
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)(?P<pw>[^@\s]+)(?P<tail>@)")
# key=value of a query string (or a libpq-style "password=..." in a message) whose key is sensitive
_QUERY = re.compile(
    r"(?P<head>(?:^|[?&;\s])(?P<key>[A-Za-z0-9_.\-]*(?:passw|pwd|secret|token|passphrase)[A-Za-z0-9_.\-]*)=)"
    r"(?P<pw>[^&;#\s'\"]*)",
    re.IGNORECASE,
)
_MIN_REMEMBERED = 3  # shorter passwords are not searched for in texts (they would hit ordinary words)
_remembered: set[str] = set()


def sensitive_key(key: str) -> bool:
    """True for a query-string key whose value is a secret (password, passwd, pwd, ...secret..., ...token...)."""
    return bool(_SENSITIVE.search(key))


def _parse(url: str | URL) -> URL | None:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url)
    except Exception:
        return None


def mask_url(url: str | URL | None) -> str:
    """The URL as it may be shown or stored: the userinfo password and every sensitive query value → ``***``.
    A text that does not parse as a URL is masked by its shape."""
    if url is None:
        return ""
    parsed = _parse(url)
    if parsed is None:
        return mask_text(str(url))
    remember(parsed)
    hidden = {k: MASK for k in parsed.query if sensitive_key(k)}
    if hidden:
        parsed = parsed.update_query_dict(hidden)
    # the mask is shown as it is, not percent-encoded as a query value
    return parsed.render_as_string(hide_password=True).replace("%2A%2A%2A", MASK)


def mask_text(text: str) -> str:
    """``text`` with every URL-shaped password (``scheme://user:pw@``, ``password=pw``) replaced by ``***``."""
    text = _USERINFO.sub(lambda m: m["head"] + MASK + m["tail"], text)
    return _QUERY.sub(lambda m: m["head"] + MASK, text)


def split_url(url: str | URL) -> tuple[str, dict[str, Any]]:
    """``url`` without its secrets (as text, safe to write to a file) and the secrets, for :func:`join_url`."""
    parsed = _parse(url)
    if parsed is None:
        raise ValueError("not a database URL")
    secret: dict[str, Any] = {}
    if parsed.password is not None:
        secret["password"] = str(parsed.password)
        parsed = parsed._replace(password=None)  # URL.set() keeps a field given None
    query = {k: v for k, v in parsed.query.items() if sensitive_key(k)}
    if query:
        secret["query"] = {k: list(v) if isinstance(v, tuple) else v for k, v in query.items()}
        parsed = parsed.difference_update_query(list(query))
    return parsed.render_as_string(hide_password=False), secret


def join_url(public: str, secret: dict[str, Any] | None) -> URL:
    """The URL :func:`split_url` took apart."""
    from sqlalchemy.engine import make_url

    parsed = make_url(public)
    if secret:
        if "password" in secret:
            parsed = parsed.set(password=secret["password"])
        if secret.get("query"):
            parsed = parsed.update_query_dict(secret["query"], append=True)
    return parsed


def remember(url: str | URL) -> None:
    """Note the passwords of ``url``, so that :func:`scrub` removes them from any text this process shows."""
    parsed = _parse(url)
    if parsed is None:
        return
    values = [parsed.password] if parsed.password else []
    for key, value in parsed.query.items():
        if sensitive_key(key):
            values += list(value) if isinstance(value, tuple) else [value]
    _remembered.update(str(v) for v in values if v and len(str(v)) >= _MIN_REMEMBERED)


def scrub(text: str) -> str:
    """``text`` without any password this process has seen in a URL, nor any URL-shaped one."""
    text = mask_text(text)
    for secret in sorted(_remembered, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text
