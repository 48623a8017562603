"""Passwords masked in every URL form (userinfo and query string), wherever a URL is shown; a URL passed to
another process without its secrets comes back whole."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from handover.cli import app
from handover.redact import join_url, mask_url, scrub, split_url
from handover.target.db import safe_url

SECRET = "secretpw"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:5432/db",
            "postgresql+psycopg://postgres:***@127.0.0.1:5432/db",
        ),
        (
            f"postgresql+psycopg://postgres@127.0.0.1:5432/db?password={SECRET}&sslmode=require",
            "postgresql+psycopg://postgres@127.0.0.1:5432/db?password=***&sslmode=require",
        ),
        (
            f"mysql+pymysql://root@h/db?passwd={SECRET}&charset=utf8mb4",
            "mysql+pymysql://root@h/db?charset=utf8mb4&passwd=***",
        ),
        (f"sqlite:///t.db?PWD={SECRET}", "sqlite:///t.db?PWD=***"),
        (f"sqlite:///t.db?SslPassword={SECRET}", "sqlite:///t.db?SslPassword=***"),
        (
            f"sqlite:///t.db?client_secret={SECRET}&api_token={SECRET}",
            "sqlite:///t.db?api_token=***&client_secret=***",
        ),
        (
            f"postgresql://u:{SECRET}@h:abc/db",
            "postgresql://u:***@h:abc/db",
        ),  # does not parse: masked by shape
        (f"not a url, password={SECRET}", "not a url, password=***"),
        ("sqlite:///target.db", "sqlite:///target.db"),
    ],
)
def test_every_url_form_is_masked(url: str, shown: str) -> None:
    assert mask_url(url) == safe_url(url) == shown


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:5432/db",
        f"postgresql+psycopg://postgres@127.0.0.1:5432/db?password={SECRET}&sslmode=require",
        "sqlite:////tmp/t.db",
    ],
)
def test_split_url_keeps_the_secrets_apart_and_join_url_restores_them(url: str) -> None:
    public, secret = split_url(url)
    assert SECRET not in public
    assert bool(secret) == (SECRET in url)
    restored = join_url(public, secret)
    assert restored.password == split_url(url)[1].get("password")
    assert dict(restored.query) == dict(__import__("sqlalchemy").engine.make_url(url).query)


def test_scrub_removes_remembered_passwords_and_url_shaped_ones() -> None:
    mask_url(f"postgresql://u:{SECRET}@h/db")  # seen once: scrubbed from any text afterwards
    assert scrub(f"driver said: bad {SECRET}!") == "driver said: bad ***!"
    assert (
        scrub("dsn: user=u password=abc host=h; mysql://u:xyz@h/db")
        == "dsn: user=u password=*** host=h; mysql://u:***@h/db"
    )


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:1/db",
        f"postgresql+psycopg://postgres@127.0.0.1:1/db?password={SECRET}",
        f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:notaport/db",
        f"nodriver://postgres:{SECRET}@h/db",
    ],
)
def test_error_messages_never_show_the_password(url: str) -> None:
    for args in (["db", "status", "--db", url], ["db", "upgrade", "--db", url], ["report", "b", "--db", url]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code in (2, 3, 5), result.output
        assert SECRET not in result.output
        assert args[0] == "report" or "***" in result.output  # the URL is named, masked
