"""Web layer: pages (Jinja + htmx), the REST API, authentication views, errors."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    pass
