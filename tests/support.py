"""Helpers shared by the tests (import them with ``from support import …``)."""

from __future__ import annotations

from pathlib import Path

from jinja2 import StrictUndefined

from scrm.app import create_app
from scrm.config import REPO_ROOT


def make_app(url: str, home: Path | None = None, **overrides):
    app = create_app(
        {
            "SCRM_DATABASE_URL": url,
            "SCRM_HOME": str(home or REPO_ROOT),
            "SECRET_KEY": "test-secret",
            "WTF_CSRF_ENABLED": False,
            "TESTING": True,
            **overrides,
        }
    )
    app.jinja_env.undefined = StrictUndefined
    return app


def login(client, username: str) -> None:
    from scrm.security.users import find_user

    with client.application.app_context():
        user_id = find_user(username).id
    with client.session_transaction() as session:
        session["_user_id"] = str(user_id)
        session["_fresh"] = True
