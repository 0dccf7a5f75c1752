"""`veille db`: back the database up while the daemon runs, check it and see what takes space."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..store.maintenance import CheckReport
from .common import FORMAT, _app, _json


@click.group()
def db() -> None:
    """Back up and check the database.

    \b
    Example:
      veille db backup veille-copy.db && veille db check
    """


@db.command("backup")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.pass_context
def db_backup(ctx: click.Context, file: Path) -> None:
    """Copy the database to FILE, consistently, even while the daemon writes.

    Uses SQLite's online backup API; FILE is replaced atomically and readable
    by its owner only. Restore by stopping the daemon and copying FILE back.

    \b
    Example:
      veille db backup /var/backups/veille-$(date +%F).db
    """
    app = _app(ctx)
    app.store.backup(file)
    click.echo(f"backed up {app.settings.database} to {file} ({_size(file.stat().st_size)})")


@db.command("check")
@FORMAT
@click.pass_context
def db_check(ctx: click.Context, fmt: str) -> None:
    """Check the database's integrity and show the size of each table and index.

    Exits 1 if SQLite finds the file damaged (restore a backup).

    \b
    Example:
      veille db check
    """
    report = _app(ctx).store.check()
    if fmt == "json":
        _json(_report_json(report))
    else:
        _print_report(report)
    if not report.ok:
        ctx.exit(1)


def _report_json(report: CheckReport) -> dict[str, Any]:
    return {"ok": report.ok, "problems": report.problems, "file_bytes": report.file_bytes,
            "free_bytes": report.free_pages * report.page_size,
            "auto_vacuum": {0: "none", 1: "full", 2: "incremental"}.get(report.auto_vacuum),
            "objects": [{"name": o.name, "type": o.kind, "table": o.table, "bytes": o.bytes,
                         "rows": o.rows} for o in report.objects]}


def _print_report(report: CheckReport) -> None:
    if report.ok:
        click.echo("integrity: ok")
    else:
        click.echo(click.style("integrity: DAMAGED", fg="red"))
        for problem in report.problems:
            click.echo(f"  {problem}")
    click.echo(f"file: {_size(report.file_bytes)}, "
               f"{_size(report.free_pages * report.page_size)} free")
    for o in report.objects:
        size = _size(o.bytes) if o.bytes is not None else "?"
        rows = f"{o.rows} rows" if o.rows is not None else f"on {o.table}"
        click.echo(f"  {size:>9}  {o.kind:<5}  {o.name}  ({rows})")


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"
