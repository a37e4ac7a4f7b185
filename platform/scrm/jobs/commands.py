"""``scrm scheduler``, ``scrm rules …``, ``scrm outbox deliver`` and ``scrm sms-simulator``."""

from __future__ import annotations

import json
import signal

import click


def _app(ctx):
    return ctx.obj.app


@click.command()
@click.pass_context
def scheduler(ctx):
    """Run the scheduler: standby until it holds the leader lock, then leader (Ctrl-C stops)."""
    import logging

    from ..installation import ensure_system_schema
    from .scheduler import Scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    app = _app(ctx)
    with app.app_context():
        ensure_system_schema()
    node = Scheduler(app)
    app.extensions["scrm_scheduler"] = node

    def stop(_signum, _frame):
        node._stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(f"scheduler {node.name}: standby, waiting for the leader lock", err=True)
    node.loop()
    click.echo(f"scheduler {node.name}: stopped", err=True)


def start_in_process(app) -> None:
    """``scrm run``: a scheduler thread that leads only if no other process does."""
    if app.config.get("SCRM_SCHEDULER") == "off":
        return
    from ..installation import ensure_system_schema
    from .scheduler import Scheduler

    with app.app_context():
        ensure_system_schema()
    node = Scheduler(app)
    app.extensions["scrm_scheduler"] = node
    node.start()


@click.group()
def rules():
    """Alert and tagging rules."""


@rules.command("list")
@click.pass_context
def rules_list(ctx):
    """The published rules with their schedule or trigger and their last run."""
    import sqlalchemy as sa

    from ..alerts.model import rules_of
    from ..alerts.store import Run
    from ..db import db
    from ..runtime import snapshot

    with _app(ctx).app_context():
        for rule in sorted(rules_of(snapshot()).values(), key=lambda r: r.name):
            last = db.session.execute(
                sa.select(Run).where(Run.rule == rule.name).order_by(Run.id.desc()).limit(1)
            ).scalar_one_or_none()
            when = rule.doc.get("schedule", {}).get("cron") or rule.doc.get("schedule", {}).get("every")
            when = when or (f"on {rule.trigger.on} of {rule.trigger.entity}" if rule.trigger else "manual")
            state = "enabled" if rule.enabled else "disabled"
            ran = (
                f"last run {last.started_at:%Y-%m-%d %H:%M} {last.status}, fired {last.fired}" if last else "never run"
            )
            click.echo(f"{rule.name:32} {state:8} {rule.severity:8} {when:28} {ran}")


@rules.command("run")
@click.argument("name")
@click.option("--dry-run", is_flag=True, help="Show what would fire now, and why; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.pass_context
def rules_run(ctx, name, dry_run, as_json):
    """Run rule NAME now (its tasks, tags and messages are real unless --dry-run)."""
    from ..alerts.engine import run_rule

    with _app(ctx).app_context():
        outcome = run_rule(name, reason="dry_run" if dry_run else "manual", dry_run=dry_run)
    if as_json:
        click.echo(json.dumps(outcome.as_dict(), ensure_ascii=False, indent=2, default=str))
    else:
        verb = "would fire" if dry_run else "fired"
        click.echo(
            f"{name}: matched {outcome.matched}, {verb} {outcome.fired}"
            + (f", untagged {outcome.untagged}" if outcome.untagged else "")
            + f" ({outcome.statement_ms:.0f} ms statement, {outcome.duration_ms:.0f} ms in all)"
        )
        for item in outcome.sample:
            metrics = ", ".join(f"{k}={v}" for k, v in item["metrics"].items())
            click.echo(f"  #{item['id']} {item['title'] or ''}  {metrics}")
    if outcome.error:
        raise click.ClickException(outcome.error)


@click.group()
def outbox():
    """The outbox of e-mail and SMS messages."""


@outbox.command("deliver")
@click.pass_context
def outbox_deliver(ctx):
    """Send the messages that are due now (the scheduler leader does this every few seconds)."""
    from ..notify.outbox import deliver_due

    with _app(ctx).app_context():
        counts = deliver_due(limit=10_000)
    click.echo(", ".join(f"{k} {v}" for k, v in counts.items()))


@click.command("sms-simulator")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8025, type=click.IntRange(1, 65535), show_default=True)
def sms_simulator(host, port):
    """A local SMS gateway that prints and keeps what it receives (GET /messages lists them)."""
    from ..notify.simulator import serve

    click.echo(f"SMS simulator on http://{host}:{port}/send (set SCRM_SMS_GATEWAY_URL to it)", err=True)
    serve(host, port, echo=lambda m: click.echo(json.dumps(m, ensure_ascii=False)))
