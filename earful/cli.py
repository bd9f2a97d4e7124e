"""The `earful` command line. The only place exceptions become messages and exit codes.

Exit codes: 0 ok, 1 some source or alert delivery failed (the rest was done),
2 usage, config or database error.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from . import config as cfg
from .db import StoreError
from .lock import LockBusy

log = logging.getLogger("earful")

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("earful: %(message)s" if verbose < 2 else
                                           "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    log.setLevel(level)
    # prawcore logs each retry ("Retrying due to ConnectionError") as a warning: a retry that
    # works is no trouble for cron to mail, one that fails ends as the source's error. -v shows it.
    logging.getLogger("prawcore").setLevel(logging.WARNING if verbose else logging.ERROR)
    if verbose >= 2:
        logging.getLogger("collectors").setLevel(logging.DEBUG)
    elif verbose == 1:
        logging.getLogger("collectors").setLevel(logging.INFO)


def _fail(message: str, code: int = EXIT_USAGE) -> None:
    click.echo(f"Error: {message}", err=True)
    raise SystemExit(code)


def handle_errors(fn: Any) -> Any:
    """Library errors -> one clear line on stderr and the documented exit code."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except cfg.ConfigError as exc:
            _fail(str(exc))
        except StoreError as exc:
            _fail(str(exc))
        except LockBusy as exc:
            # An overlapping cron run is normal: say so and leave quietly.
            click.echo(f"earful: {exc}; this run skipped", err=True)
            raise SystemExit(EXIT_OK) from None
    return wrapper


def common_options(fn: Any) -> Any:
    fn = click.option("--config", "config_path", type=click.Path(dir_okay=False),
                      envvar=cfg.ENV_CONFIG, show_envvar=True,
                      help=f"Config file [default: ./{cfg.DEFAULT_CONFIG}]")(fn)
    fn = click.option("--db", "db_path", type=click.Path(dir_okay=False), envvar=cfg.ENV_DB,
                      show_envvar=True, help="SQLite database [default: from the config]")(fn)
    fn = click.option("-v", "--verbose", count=True,
                      help="More output on stderr (-v progress, -vv debug)")(fn)
    return fn


def _load(config_path: str | None, db_path: str | None, verbose: int,
          need_secrets: bool = True, need_brands: bool = True) -> cfg.Config:
    _setup_logging(verbose)
    return cfg.load(config_path, db=db_path, need_secrets=need_secrets,
                    need_brands=need_brands)


def _finish(outcome: Any, quiet_ok: bool = True) -> None:
    result = outcome.result
    if result.failures:
        click.echo(f"earful: {len(result.failures)} problem(s) in run {outcome.run_id}; "
                   "see `earful status`", err=True)
        raise SystemExit(EXIT_PARTIAL)
    if not quiet_ok:
        click.echo(f"run {outcome.run_id}: {result.new_mentions} new mentions, "
                   f"{result.scored} scored, {result.episodes_opened} episodes opened, "
                   f"{result.alerts_sent} alerts sent", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="earful")
def cli() -> None:
    """earful: hear negative word-of-mouth before it spreads.

    Collects public mentions of your brands, scores their sentiment, detects spikes of
    negative mentions, emails the evidence and publishes everything with Datasette.

    \b
    Quick start:
        earful demo                 # offline demo on bundled data
        earful init                 # write a commented config.toml
        earful run                  # one full run; put this in cron
        earful serve                # browse the results
    """


@cli.command()
@click.option("--path", "target", type=click.Path(dir_okay=False), default=cfg.DEFAULT_CONFIG,
              show_default=True, help="Where to write the config")
@click.option("--force", is_flag=True, help="Overwrite an existing file")
def init(target: str, force: bool) -> None:
    """Write a commented starter config.

    \b
    Example:
        earful init && $EDITOR config.toml && earful run -v
    """
    path = Path(target)
    if path.exists() and not force:
        _fail(f"{path}: already exists (use --force to overwrite)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(cfg.STARTER, encoding="utf-8")
    click.echo(f"Wrote {path}. Edit the brands and sources, then run: earful run -v")


def _stage_command(name: str, stages: tuple[str, ...], doc: str) -> None:
    @cli.command(name=name, help=doc)
    @common_options
    @click.option("--brand", "brands", multiple=True, help="Only this brand (repeatable)")
    @handle_errors
    def command(config_path: str | None, db_path: str | None, verbose: int,
                brands: tuple[str, ...]) -> None:
        from .runner import run

        config = _load(config_path, db_path, verbose, need_secrets="collect" in stages
                       or "alert" in stages)
        for brand in brands:
            config.brand(brand)
        outcome = run(config, stages, command=name, brands=list(brands) or None)
        _finish(outcome, quiet_ok=verbose == 0)


_stage_command("run", ("collect", "score", "detect", "alert", "publish"), """\
Run every stage once: collect, score, detect, alert, publish. The cron entry point.

Quiet when all is well, so cron mails you only on trouble. Safe to repeat and to
overlap: a second run waits briefly for the first, then exits 0 saying so.
Exit 0 ok, 1 a source or an alert delivery failed (the rest was done), 2 config error.

\b
Example crontab line (every 15 minutes):
    */15 * * * * cd /srv/earful && .venv/bin/earful run
""")
_stage_command("collect", ("collect",), """\
Collect new mentions from every enabled source.

\b
Example:
    earful collect -v --brand Acme
""")
_stage_command("score", ("score",), """\
Score the sentiment of mentions not yet scored by the current model.

\b
Example:
    earful score -v
""")
_stage_command("detect", ("detect",), """\
Feed closed time buckets to the spike detector; open, escalate and close episodes.

\b
Example:
    earful detect --brand Acme
""")
_stage_command("publish", ("publish",), """\
Refresh the tables Datasette shows (per-day counts for the charts).

\b
Example:
    earful publish && earful serve
""")


@cli.command()
@common_options
@click.option("--dry-run", is_flag=True, help="Print what would be sent; send nothing")
@handle_errors
def alert(config_path: str | None, db_path: str | None, verbose: int, dry_run: bool) -> None:
    """Deliver pending alert emails (SMTP, or .eml files in the outbox without [smtp]).

    \b
    Example:
        earful alert --dry-run
    """
    from .runner import run

    config = _load(config_path, db_path, verbose)
    outcome = run(config, ("alert",), command="alert", dry_run=dry_run, echo=click.echo)
    _finish(outcome, quiet_ok=verbose == 0)


@cli.command()
@common_options
@click.option("--host", default=None, help="Bind address [default: serve.host, 127.0.0.1]")
@click.option("--port", type=int, default=None, help="Port [default: serve.port, 8001]")
@handle_errors
def serve(config_path: str | None, db_path: str | None, verbose: int, host: str | None,
          port: int | None) -> None:
    """Serve the database with Datasette (live: cron keeps writing while it serves).

    \b
    Example:
        earful serve --port 8001
    """
    from .serve import serve_forever

    config = _load(config_path, db_path, verbose, need_secrets=False, need_brands=False)
    serve_forever(config.database, host or config.serve["host"], port or config.serve["port"])


@cli.command()
@common_options
@click.option("--brand", help="Replay this brand's stored history")
@click.option("--csv", "csv_paths", type=click.Path(dir_okay=False, exists=True), multiple=True,
              help="Replay a CSV of counts instead: timestamp,value[,negatives] (repeatable: "
                   "many files in one run)")
@click.option("--false-alarms-per-month", type=float, help="Sensitivity to try [config, 1]")
@click.option("--rho", type=float, help="Fold rise the volume test is tuned for [3]")
@click.option("--min-excess", type=float, help="Negatives above usual needed to alert [3]")
@click.option("--bucket-hours", type=float, help="Bucket length [config, 1]")
@click.option("--since", help="Start of the replay (UTC, e.g. 2026-09-01)")
@click.option("--until", help="End of the replay (UTC)")
@click.option("--storm", "storms", multiple=True, metavar="START/END",
              help="A known incident window: alerts inside it are true (repeatable)")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON record per episode (series, opened_at, escalations, "
                   "closed_at, rule, numbers) instead of the report")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
              help="Write a PNG of the series, the baseline and the episodes (one series)")
@handle_errors
def backtest(config_path: str | None, db_path: str | None, verbose: int, brand: str | None,
             csv_paths: tuple[str, ...], false_alarms_per_month: float | None,
             rho: float | None, min_excess: float | None, bucket_hours: float | None,
             since: str | None, until: str | None, storms: tuple[str, ...], as_json: bool,
             plot_path: str | None) -> None:
    """Replay history through the spike detector with any settings; nothing is sent.

    Shows which episodes would have opened, when and how big, and the alert rate that
    implies, so you can pick a sensitivity before cron uses it. Settings come from the
    config (--config, $EARFUL_CONFIG or ./config.toml, when there is one), then the options.

    The first 7 days of a series are its warm-up: they teach the baseline and cannot alert,
    and alert rates are computed over the days after them only.

    \b
    Examples:
        earful backtest --brand Acme
        earful backtest --brand Acme --false-alarms-per-month 0.5 --plot acme.png
        earful backtest --csv counts.csv --storm 2026-10-02T13:00/2026-10-02T20:00
        earful backtest --csv a.csv --csv b.csv --json > episodes.jsonl
    """
    from .backtest import (
        BacktestError,
        csv_params,
        describe,
        episodes,
        plot,
        run_backtest,
        series_from_csv,
        series_from_db,
    )
    from .db import connect

    if bool(brand) == bool(csv_paths):
        _fail("give either --brand (stored history) or --csv (files of counts)")
    if plot_path and len(csv_paths) > 1:
        _fail("--plot draws one series: give one --csv with it")
    params: dict[str, Any] = {}
    config = None
    if brand or config_path or cfg.config_path(None).exists():
        config = _load(config_path, db_path, verbose, need_secrets=False,
                       need_brands=bool(brand))
        params.update(false_alarms_per_month=config.detection["false_alarms_per_month"])
    else:
        _setup_logging(verbose)
    hours = bucket_hours or (config.detection["bucket_hours"] if config else 1.0)
    for key, value in (("false_alarms_per_month", false_alarms_per_month), ("rho", rho),
                       ("min_excess", min_excess)):
        if value is not None:
            params[key] = value
    params["bucket_hours"] = hours
    windows = []
    for storm in storms:
        start, _, end = storm.partition("/")
        if not end:
            _fail(f"--storm {storm!r}: expected START/END")
        windows.append((start if "T" in start else start + "T00:00",
                        end if "T" in end else end + "T00:00"))
    windows = [(a + ("Z" if not a.endswith("Z") else ""), b + ("Z" if not b.endswith("Z")
                else "")) for a, b in windows]
    try:
        if brand:
            assert config is not None
            config.brand(brand)
            if not Path(config.database).exists():
                _fail(f"{config.database}: no database yet (run `earful run` first)")
            db = connect(config.database)
            try:
                jobs = [(brand, series_from_db(db, brand, hours, since, until), params)]
            finally:
                db.close()
        else:
            jobs = []
            for path in csv_paths:
                series, has_negatives = series_from_csv(Path(path), hours)
                if since or until:
                    series = [r for r in series if (since or "") <= r[0] < (until or "9999")]
                jobs.append((path, series, {**params, **csv_params(has_negatives)}))
        for number, (name, series, job_params) in enumerate(jobs):
            result = run_backtest(series, job_params, windows)
            if as_json:
                for record in episodes(result, name):
                    click.echo(json.dumps(record, sort_keys=True))
                continue
            if len(jobs) > 1:
                click.echo(("\n" if number else "") + f"== {name}")
            click.echo(describe(result, job_params, bool(windows)))
            if plot_path:
                plot(result, Path(plot_path), f"{Path(name).name}: negatives per "
                     f"{hours:g} h, expected, episodes")
                click.echo(f"Plot written to {plot_path}")
    except BacktestError as exc:
        _fail(str(exc))


@cli.command()
@common_options
@handle_errors
def status(config_path: str | None, db_path: str | None, verbose: int) -> None:
    """Show per source when it last worked and why it last failed; open episodes per brand.

    \b
    Example:
        earful status
    """
    from .status import render_status

    config = _load(config_path, db_path, verbose, need_secrets=False, need_brands=False)
    if not Path(config.database).exists():
        _fail(f"{config.database}: no database yet (run `earful run` first)")
    click.echo(render_status(config))


@cli.command()
@click.option("--dir", "workdir", type=click.Path(file_okay=False), default="data/demo",
              show_default=True, help="Where the demo writes its config, database and outbox")
@click.option("--no-serve", is_flag=True, help="Stop after the run (for scripts and CI)")
@click.option("--port", type=int, default=8001, show_default=True, help="Datasette port")
@click.option("-v", "--verbose", count=True, help="More output on stderr")
@handle_errors
def demo(workdir: str, no_serve: bool, port: int, verbose: int) -> None:
    """Run the real pipeline offline on bundled demo data, then serve it with Datasette.

    A local HTTP server on 127.0.0.1 answers as Reddit, Hacker News, Trustpilot, the
    App Store and a Google Alerts feed would; the collectors fetch from it as they
    would from the internet. The demo starts from scratch in --dir each time.

    \b
    Example:
        earful demo --no-serve && earful status --config data/demo/config.toml
    """
    from .demo import run_demo

    _setup_logging(verbose)
    code = run_demo(Path(workdir), serve=not no_serve, port=port, echo=click.echo)
    raise SystemExit(code)


def main() -> None:  # pragma: no cover - console script shim
    cli(prog_name="earful")


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
