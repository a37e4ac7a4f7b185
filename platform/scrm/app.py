"""The application factory."""

from __future__ import annotations

from flask import Flask
from jinja2 import ChoiceLoader, FileSystemLoader

from . import db as database
from . import i18n
from .config import REPO_ROOT, load_config, secret_key
from .definitions import DefinitionService
from .plugins.manager import Plugins
from .registry import Registry
from .runtime import Runtime
from .security import auth
from .security.crypto import Keyring, instance_key


def create_app(overrides: dict | None = None) -> Flask:
    config = load_config(overrides=overrides)
    app = Flask("scrm", instance_path=str(config["SCRM_INSTANCE"]))
    app.config.update(config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = secret_key(config["SCRM_INSTANCE"])
    if not app.config.get("SCRM_ENCRYPTION_KEY"):
        app.config["SCRM_ENCRYPTION_KEY"] = instance_key(config["SCRM_INSTANCE"])
    Keyring(app.config["SCRM_ENCRYPTION_KEY"])  # a key that cannot be used stops the start, with its reason
    home = config["SCRM_HOME"]
    app.jinja_loader = ChoiceLoader(
        [FileSystemLoader(str(home / "templates")), FileSystemLoader(str(REPO_ROOT / "templates"))]
    )
    i18n.init_app(app)
    database.init_app(app)
    plugins = Plugins(
        home / "plugins",
        disabled=config["SCRM_PLUGINS_DISABLED"],
        timeout=config["SCRM_PLUGIN_TIMEOUT"],
        job_timeout=config["SCRM_PLUGIN_JOB_TIMEOUT"],
    )
    app.extensions["scrm"] = Runtime(
        plugins, Registry(plugins.field_types), DefinitionService(plugins.field_types, home, plugins)
    )
    auth.init_app(app)
    from .web import init_app as init_web

    init_web(app)
    return app
