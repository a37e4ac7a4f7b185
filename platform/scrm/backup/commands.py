"""``scrm backup FILE`` and ``scrm restore FILE``."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--overwrite", is_flag=True, help="Replace PATH if it exists.")
@click.pass_context
def backup(ctx, path, overwrite):
    """Write the whole installation (definitions, data, audit log) to PATH, with row checksums."""
    from . import make_backup

    with ctx.obj.app.app_context():
        done = make_backup(path, overwrite=overwrite)
    click.echo(
        f"backup written to {done.path}: {len(done.manifest.tables)} tables, {done.manifest.rows:,} rows, "
        f"{done.size / 1e6:,.1f} MB in {done.seconds:.1f} s"
    )
    if done.manifest.keys:
        click.echo(
            f"sealed values need the key(s) {', '.join(done.manifest.keys)} to be read: keep them apart from the file"
        )


@click.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace everything in a database that is not empty.")
@click.pass_context
def restore(ctx, path, force):
    """Rebuild the installation from the backup PATH: exactly (every table checked) or not at all."""
    from . import restore_backup

    with ctx.obj.app.app_context():
        done = restore_backup(path, force=force)
    m = done.manifest
    if done.replaced:
        click.echo(f"dropped the {done.replaced} tables that were there")
    click.echo(
        f"restored {len(m.tables)} tables, {m.rows:,} rows from the backup made {m.made_at} "
        f"(revision {m.revision}); every table matches its checksum ({done.seconds:.1f} s)"
    )
    state = "intact" if done.audit_intact else "BROKEN (it was so in the backup)"
    click.echo(f"audit log {state}: {done.audit_entries:,} entries")
