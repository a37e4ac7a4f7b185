"""The ``scrm`` command line (DESIGN.md §10). Errors are one line and a non-zero exit code;
``scrm --debug …`` shows the traceback instead."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from .errors import ScrmError

log = logging.getLogger(__name__)


class State:
    def __init__(self, debug: bool):
        self.debug = debug
        self._app = None
        self.plugin_commands: dict[str, click.Command] | None = None  # see ScrmGroup.plugin_commands

    @property
    def app(self):
        if self._app is None:
            from .app import create_app

            self._app = create_app()
        return self._app


class ScrmGroup(click.Group):
    """The ``scrm`` group: the built-in commands, then those plugins add (``scrm_cli_commands``),
    which are only looked for — creating the application and its plugins — when a name is not a
    built-in one or the commands are listed."""

    def list_commands(self, ctx):
        return sorted({*super().list_commands(ctx), *self.plugin_commands(ctx)})

    def get_command(self, ctx, name):
        return super().get_command(ctx, name) or self.plugin_commands(ctx).get(name)

    def plugin_commands(self, ctx) -> dict[str, click.Command]:
        root = ctx.find_root()
        if not isinstance(root.obj, State):
            root.obj = State(debug=False)  # (the group's callback sets --debug once parsed)
        state = root.obj
        if state.plugin_commands is None:
            state.plugin_commands = {}
            try:
                plugins = state.app.extensions["scrm"].plugins
            except Exception as exc:  # no configuration, say: the built-in commands still work
                log.warning("plugin commands not loaded: %s: %s", type(exc).__name__, exc)
                return state.plugin_commands
            state.plugin_commands = plugin_commands(plugins, set(super().list_commands(ctx)))
        return state.plugin_commands

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except ScrmError as exc:
            if ctx.obj and ctx.obj.debug:
                raise
            click.echo(f"error: {exc.message}", err=True)
            for d in exc.details:
                click.echo(f"  {d.path}: {d.message}", err=True)
            ctx.exit(1)
        except Exception as exc:  # never a traceback for users
            if ctx.obj and ctx.obj.debug:
                raise
            click.echo(
                f"error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                " (run with --debug for details)",
                err=True,
            )
            ctx.exit(1)


@click.group(cls=ScrmGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.pass_context
def cli(ctx, debug):
    """SCRM: a low-code CRM for securities brokerages."""
    if not isinstance(ctx.obj, State):
        ctx.obj = State(debug)
    ctx.obj.debug = debug
    if ctx.invoked_subcommand in (ctx.obj.plugin_commands or {}):  # a plugin's command runs in the app
        ctx.with_resource(ctx.obj.app.app_context())


def plugin_commands(plugins, builtin: set[str]) -> dict[str, click.Command]:
    """The commands plugins add, by name: one named like a built-in command or like an earlier
    plugin's is left out, and a plugin whose hook fails adds none; each is recorded against the
    plugin (``scrm plugins list`` shows it)."""
    sources = {s.name: s.source for s in plugins.status}
    found: dict[str, click.Command] = {}
    for impl in plugins.pm.hook.scrm_cli_commands.get_hookimpls():  # in registration order
        plugin = impl.plugin_name
        try:
            commands = list(impl.function() or ())
        except Exception as exc:
            if sources.get(plugin) == "builtin":
                raise
            plugins.record_error(plugin, "scrm_cli_commands", f"{type(exc).__name__}: {exc}")
            continue
        for command in commands:
            if not isinstance(command, click.Command) or not command.name:
                why = f"{command!r} is not a click command"
            elif command.name in builtin:
                why = f"the command {command.name!r} is not added: a built-in command has that name"
            elif command.name in found:
                why = f"the command {command.name!r} is not added: another plugin's has that name"
            else:
                found[command.name] = command
                continue
            plugins.record_error(plugin, "scrm_cli_commands", why)
    return found


def app_context(ctx):
    return ctx.obj.app.app_context()


# -- installation ------------------------------------------------------------------------
@cli.command()
@click.option("--demo", is_flag=True, help="Also load demo data.")
@click.option("--customers", type=click.IntRange(0, 5_000_000), default=300, show_default=True)
@click.option("--force-sync", is_flag=True, help="Overwrite definitions edited in the designer (kept in history).")
@click.pass_context
def init(ctx, demo, customers, force_sync):
    """Create or upgrade the database and load the shipped definitions."""
    with app_context(ctx):
        _init(demo, customers, force_sync)


def _init(demo: bool, customers: int, force_sync: bool) -> None:
    from .installation import initialise

    report = initialise(force_sync=force_sync)
    if report.created_tables:
        click.echo(f"created {len(report.created_tables)} system tables")
    _print_sync(report.sync)
    if report.sync and report.sync.problems and any(p.severity == "error" for p in report.sync.problems):
        raise click.exceptions.Exit(1)
    if report.admin_created:
        if report.admin_password:
            click.echo(f"created user admin with password: {report.admin_password}  (shown once)")
        else:
            click.echo("created user admin (password from SCRM_ADMIN_PASSWORD)")
    if demo:
        from .demo import load_demo

        summary = load_demo(customers=customers, progress=customers >= 20_000)
        for line in summary:
            click.echo(line)


def _print_sync(report) -> None:
    if report is None:
        return
    for label, items in (("created", report.created), ("updated", report.updated), ("forced", report.forced)):
        if items:
            click.echo(f"{label}: {', '.join(items)}")
    for item in report.conflicts:
        click.echo(f"conflict: {item} was changed in the designer; kept it (use --force to overwrite)", err=True)
    for p in report.problems:
        click.echo(p.line(), err=True)
    if report.result and report.result.steps:
        for step in report.result.steps:
            click.echo(f"  {step}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, type=click.IntRange(1, 65535), show_default=True)
@click.pass_context
def run(ctx, host, port):
    """Serve the application, with the scheduler when this process wins the leader lock."""
    from .jobs.commands import start_in_process

    start_in_process(ctx.obj.app)
    ctx.obj.app.run(host=host, port=port, threaded=True, use_reloader=False, debug=False)


@cli.command()
@click.option("--customers", type=click.IntRange(0, 5_000_000), default=300, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, type=click.IntRange(1, 65535), show_default=True)
@click.pass_context
def demo(ctx, customers, host, port):
    """``init --demo`` then ``run``."""
    with app_context(ctx):
        _init(True, customers, False)
        from .demo import demo_logins

        for line in demo_logins():
            click.echo(line)
    click.echo(f"serving on http://{host}:{port}")
    from .jobs.commands import start_in_process

    start_in_process(ctx.obj.app)
    ctx.obj.app.run(host=host, port=port, threaded=True, use_reloader=False, debug=False)


# -- definitions -------------------------------------------------------------------------
@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.pass_context
def check(ctx, paths):
    """Check definition files (default: the shipped ones). Exit 1 on any error."""
    from .runtime import runtime

    with app_context(ctx):
        rt = runtime()
        docs, problems = rt.definitions.checker.check_files(ctx.obj.app.config["SCRM_HOME"], list(paths) or None)
    for p in problems:
        click.echo(p.line())
    errors = sum(1 for p in problems if p.severity == "error")
    warnings = len(problems) - errors
    click.echo(f"{len(docs)} definitions checked: {errors} errors, {warnings} warnings", err=True)
    if errors:
        raise click.exceptions.Exit(1)


@cli.command()
@click.option("--force", is_flag=True, help="Overwrite designer edits (they stay in the version history).")
@click.pass_context
def sync(ctx, force):
    """Load changed definition files into the database."""
    from .db import write_intent
    from .runtime import runtime

    with app_context(ctx), write_intent():
        report = runtime().definitions.sync(force=force)
    _print_sync(report)
    if not (report.created or report.updated or report.forced) and not report.problems:
        click.echo("definitions are up to date" + (" (with conflicts)" if report.conflicts else ""))
    if report.problems or report.conflicts:
        raise click.exceptions.Exit(1)


@cli.command("export")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
def export_definitions(ctx, folder):
    """Write the published definitions to FOLDER as files."""
    from .runtime import runtime

    with app_context(ctx):
        written = runtime().definitions.export(folder)
    click.echo(f"wrote {len(written)} files to {folder}")


@cli.command("export-data")
@click.argument("entity")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--filter", "condition", help="Only the records matching this condition (JSON).")
@click.option("--fields", help="Comma-separated field names (default: every field).")
@click.option("--purpose", default="operator export (scrm export-data)", show_default=True,
              help="Why; logged in the audit chain.")  # fmt: skip
@click.pass_context
def export_data(ctx, entity, path, condition, fields, purpose):
    """Write ENTITY's records to PATH as CSV (UTF-8), stamped and logged; PATH must not exist."""
    from .data.exporting import export_to_file
    from .db import write_intent
    from .runtime import snapshot

    try:
        filter_ = json.loads(condition) if condition else None
    except ValueError:
        raise click.BadParameter("not valid JSON", param_hint="--filter") from None
    names = [n.strip() for n in fields.split(",") if n.strip()] if fields else None
    with app_context(ctx), write_intent():
        try:
            count = export_to_file(snapshot(), entity, path, filter=filter_, fields=names, purpose=purpose)
        except FileExistsError:
            raise click.ClickException(f"{path} exists; choose a new file") from None
    click.echo(f"wrote {count:,} {entity} records to {path}")


@cli.command("import")
@click.argument("entity")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--key",
    help="Unique field, or a unique key's fields joined by + (account+snapshot_date), that matches rows to "
    "records (default: the format's, else the first one the columns fill; - for none).",
)
@click.option("--mode", type=click.Choice(["all", "skip"]), default=None,
              help="all: nothing is saved when a row fails; skip: save the good rows (default: the format's, "
                   "else all).")  # fmt: skip
@click.option("--format", "importer", help="An import format a plugin declares (default: recognised by the header).")
@click.option("--map", "maps", multiple=True, metavar="HEADER=FIELD",
              help="Send a column to a field (repeatable); HEADER= ignores the column.")  # fmt: skip
@click.option("--user", "username", help="Import as this user, with their permissions (default: the system).")
@click.pass_context
def import_data(ctx, entity, path, key, mode, importer, maps, username):
    """Import a CSV or Excel (.xlsx) FILE into ENTITY: a row whose key matches a record updates it."""
    from .data.import_run import import_file
    from .data.importing import DONE, ROLLED_BACK, Imports, outcome_label
    from .db import write_intent

    columns = {}
    for item in maps:
        header, sep, field_name = item.partition("=")
        if not sep or not header.strip():
            raise click.BadParameter(f"{item!r} is not HEADER=FIELD", param_hint="--map")
        columns[header.strip()] = field_name.strip()
    with app_context(ctx), write_intent():
        job = import_file(
            ctx.obj.app, entity, path, key=key, mode=mode, columns=columns, username=username, importer=importer
        )
        click.echo(
            f"{job.number}: {job.status}; {job.total_rows:,} rows: {job.created_rows:,} created, "
            f"{job.updated_rows:,} updated, {job.unchanged_rows:,} unchanged, {job.failed_rows:,} failed"
        )
        if job.message:
            click.echo(f"error: {job.message}", err=True)
        for outcome in Imports.failures(job, 20):
            for column, message in outcome.problems:
                click.echo(
                    f"  row {outcome.row} [{column or '-'}] {outcome_label(outcome.status)}: {message}", err=True
                )
    if job.status == ROLLED_BACK:
        click.echo("nothing was saved (all-or-nothing); correct the rows above and import again", err=True)
    if job.status != DONE:
        raise click.exceptions.Exit(1)


@cli.command()
@click.option("--plan", is_flag=True, help="Only show what would change, with the SQL.")
@click.pass_context
def migrate(ctx, plan):
    """Bring the database schema to the published entities."""
    from .db import write_intent
    from .runtime import runtime

    with app_context(ctx), write_intent():
        steps, statements = runtime().definitions.migrate(dry_run=plan)
    if not steps:
        click.echo("the database matches the published definitions")
        return
    for step in steps:
        click.echo(f"- {step}")
    for sql in statements:
        click.echo(f"    {sql};")
    click.echo("(plan only, nothing changed)" if plan else f"applied {len(steps)} steps")


@cli.command()
@click.argument("entity")
@click.argument("field")
@click.option("--yes", is_flag=True, help="Really drop it (without --yes: show what would happen).")
@click.pass_context
def purge(ctx, entity, field, yes):
    """Drop a deactivated FIELD of ENTITY for good, after copying its values to an archive table."""
    from .db import write_intent
    from .runtime import runtime

    with app_context(ctx), write_intent():
        result = runtime().definitions.purge_field(entity, field, dry_run=not yes)
    click.echo(
        f"{result.field}: {result.archived_values} values {'copied' if yes else 'would be copied'} "
        f"to {result.archive_table}"
    )
    for sql in result.statements:
        click.echo(f"    {sql};")
    click.echo(f"purged; definitions revision {result.revision}" if yes else "(nothing changed; add --yes to purge)")


# -- users -------------------------------------------------------------------------------
@cli.group()
def user():
    """Manage users."""


@user.command("create")
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True, help="Role name (repeatable).")
@click.option("--password", help="Default: prompt (or generated when not interactive).")
@click.option("--name", "display_name", help="Display name.")
@click.pass_context
def user_create(ctx, username, roles, password, display_name):
    """Create a user with one or more roles."""

    from .db import write_intent
    from .installation import ensure_system_schema
    from .runtime import snapshot
    from .security.users import create_user, generate_password

    shown = None
    if password is None:
        if sys.stdin.isatty():
            password = click.prompt("password", hide_input=True, confirmation_prompt=True)
        else:
            password = shown = generate_password()
    with app_context(ctx.find_root()), write_intent():
        ensure_system_schema()
        known = set(snapshot().documents_of("role"))
        unknown = [r for r in roles if r not in known]
        if unknown:
            raise click.UsageError(
                f"unknown role(s): {', '.join(unknown)}; known: {', '.join(sorted(known)) or 'none'}"
            )
        create_user(username, password, list(roles), display_name)
    click.echo(f"created user {username} ({', '.join(roles)})" + (f" with password: {shown}" if shown else ""))


@user.command("passwd")
@click.argument("username")
@click.option("--password", help="Default: prompt.")
@click.pass_context
def user_passwd(ctx, username, password):
    """Set a user's password."""
    from .db import write_intent
    from .security.users import require_user, set_password

    if password is None:
        password = click.prompt("new password", hide_input=True, confirmation_prompt=True)
    with app_context(ctx.find_root()), write_intent():
        set_password(require_user(username), password)
    click.echo(f"password of {username} changed")


@user.command("token")
@click.argument("username")
@click.option("--label", default="cli", show_default=True)
@click.option("--days", type=click.IntRange(0, 3650), default=90, show_default=True, help="Validity; 0: no expiry.")
@click.pass_context
def user_token(ctx, username, label, days):
    """Issue a new API token for a user (printed once)."""
    from .db import write_intent
    from .security.users import issue_token, require_user

    with app_context(ctx.find_root()), write_intent():
        token = issue_token(require_user(username), label, days or None)
    click.echo(token)


@user.command("revoke")
@click.argument("username")
@click.pass_context
def user_revoke(ctx, username):
    """Revoke every API token of a user (a departing employee, a leaked token)."""
    from .db import write_intent
    from .security.users import require_user, revoke_tokens

    with app_context(ctx.find_root()), write_intent():
        count = revoke_tokens(require_user(username))
    click.echo(f"revoked {count} token(s) of {username}")


# -- audit -------------------------------------------------------------------------------
@cli.group()
def audit():
    """Check and archive the audit log."""


@audit.command("verify")
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Verify an archive file instead of the database.")  # fmt: skip
@click.pass_context
def audit_verify(ctx, path):
    """Walk the hash chain; name the first entry that does not fit (exit 1)."""
    from .security import audit as log

    if path is not None:
        result = log.verify_file(path)
    else:
        with app_context(ctx.find_root()):
            result = log.verify()
    if not result.ok:
        raise click.ClickException(
            f"audit log broken at entry #{result.first_broken} ({result.entries:,} checked): {result.problem}"
        )
    click.echo(f"audit log intact: {result.entries:,} entries, last hash {result.last_hash}")


@audit.command("archive")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--days",
    type=click.IntRange(min=1),
    help="Keep this many days in the database (default: the hot retention setting).",
)
@click.pass_context
def audit_archive(ctx, path, days):
    """Move entries older than the hot retention to PATH (JSON lines, verifiable with --file)."""
    from datetime import UTC, datetime, timedelta

    from flask import current_app

    from .db import db, write_intent
    from .security import audit as log

    with app_context(ctx.find_root()), write_intent():
        keep = days or current_app.config["SCRM_AUDIT_HOT_DAYS"]
        try:
            moved = log.archive(path, datetime.now(UTC) - timedelta(days=keep))
        except (ValueError, FileExistsError) as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from None
        db.session.commit()
    click.echo(f"archived {moved:,} entries older than {keep} days to {path}")


# -- keys --------------------------------------------------------------------------------
@cli.group()
def keys():
    """Field-encryption keys."""


@keys.command("generate")
@click.option("--id", "key_id", default="k1", show_default=True, help="Letters and digits naming the key.")
def keys_generate(key_id):
    """Print a new key for SCRM_ENCRYPTION_KEY (put it first, keep the old ones after it to rotate)."""
    from .security.crypto import new_key_setting

    if not key_id.isalnum() or len(key_id) > 16:
        raise click.UsageError("the key id is letters and digits, at most 16")
    click.echo(new_key_setting(key_id))


@keys.command("rotate")
@click.pass_context
def keys_rotate(ctx):
    """Re-encrypt every encrypted value (and its history) with the first key of SCRM_ENCRYPTION_KEY
    and recompute the blind indexes; values stored before encryption was on are encrypted too."""
    from .data.rekey import rotate
    from .db import write_intent
    from .runtime import snapshot
    from .security.crypto import keyring

    with app_context(ctx.find_root()), write_intent():
        ring = keyring()
        report = rotate(snapshot(), ring)
    for name, count in sorted(report.values.items()):
        click.echo(f"  {name}: {count:,}")
    click.echo(f"re-encrypted {sum(report.values.values()):,} values and {report.history:,} history entries "
               f"with key {ring.current.id}")  # fmt: skip


# -- plugins -----------------------------------------------------------------------------
@cli.group()
def plugins():
    """Inspect plugins."""


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def plugins_list(ctx, as_json):
    """Name, version, source, status, hooks and last error of every plugin."""
    from .plugins.manager import recorded_errors
    from .runtime import runtime

    cli.plugin_commands(ctx.find_root())  # (a command left out is recorded against its plugin)
    with app_context(ctx.find_root()):
        rows = runtime().plugins.status
        recorded = recorded_errors()  # hook errors any worker met, from the audit trail
    for r in rows:
        if r.name in recorded and r.last_error is None:
            r.last_error_at, r.last_error = recorded[r.name]
    if as_json:
        click.echo(json.dumps([r.__dict__ for r in rows], ensure_ascii=False, indent=2, default=str))
        return
    for r in rows:
        error = r.error or (f"last error {r.last_error_at:%Y-%m-%d %H:%M} {r.last_error}" if r.last_error else "")
        line = f"{r.name:28} {r.version or '-':9} {r.source:12} {r.status:12} {','.join(r.hooks) or '-'}"
        click.echo(line + (f"  {error}" if error else ""))


from .backup.commands import backup, restore  # noqa: E402
from .jobs.commands import outbox, rules, scheduler, sms_simulator  # noqa: E402

for _command in (scheduler, rules, outbox, sms_simulator, backup, restore):
    cli.add_command(_command)


def main() -> None:
    cli(prog_name="scrm")
