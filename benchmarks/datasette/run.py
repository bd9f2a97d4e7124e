"""Page times of a real Datasette, started the way `earful serve` starts it.

    .venv/bin/python benchmarks/datasette/run.py /tmp/earful-bench.db --runs 20
    .venv/bin/python benchmarks/datasette/run.py /tmp/earful-bench.db --runs 9 \
        --only search --compare-plugin

Each page is fetched once to warm up, then --runs times; p50 and p95 of the wall time per
page (request to last byte), plus whether Datasette reported a timed-out facet (read from
every HTML page fetched: "These facets timed out", which Datasette 0.65 never puts in its
JSON) or a truncated result, since a fast page that silently drops data is no win. The run
exits 1 and lists the pages at the end if any facet timed out, any request failed or any
p95 passed --limit-ms (200).

--compare-plugin starts two servers on the same file, one without earful's Datasette plugin
(earful/datasette_plugin.py) and one with it, and alternates requests between them, so
both see the same machine load; it prints before/after columns.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import yaml  # noqa: E402

from earful import serve  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pages(db_path: Path) -> list[tuple[str, str]]:
    import sqlite3

    conn = sqlite3.connect(db_path)
    episode = conn.execute("SELECT id FROM episodes ORDER BY opened_at DESC LIMIT 1").fetchone()[0]
    mention = conn.execute("SELECT id FROM mentions ORDER BY rowid DESC LIMIT 1").fetchone()[0]
    from datasette.utils import tilde_encode
    conn.close()
    out = [
        ("recent_mentions (30 days, facets) - the default browse page", "/earful/recent_mentions"),
        ("recent_mentions, brand + sentiment=negative",
         "/earful/recent_mentions?brand=Larkspur&sentiment=negative"),
        ("facet page: recent_mentions?source=trustpilot",
         "/earful/recent_mentions?source=trustpilot"),
        *[(f"mentions_view?_facet={c} (one click, all history)",
           f"/earful/mentions_view?_facet={c}")
          for c in ("brand", "source", "sentiment", "status", "rating")],
        ("negatives_7d (every negative of 7 days, 4 facets)", "/earful/negatives_7d"),
        ("mentions_view?status=new&sentiment=negative",
         "/earful/mentions_view?status=new&sentiment=negative"),
        ("canned: search_mentions q=refund", "/earful/search_mentions?q=refund&brand="),
        ("canned: search_mentions q=crashes, brand",
         "/earful/search_mentions?q=crashes&brand=Quillo"),
        ("database page", "/earful"),
        ("mentions table", "/earful/mentions"),
        ("mentions?_facet=source (one click, all history)", "/earful/mentions?_facet=source"),
        ("mentions_view (all history)", "/earful/mentions_view"),
        ("mentions_view, brand + 7 days", "/earful/mentions_view?brand=Larkspur&created_at__gte="
         + time.strftime("%Y-%m-%d", time.gmtime(time.time() - 7 * 86400))),
        ("facet page: source=trustpilot", "/earful/mentions?source=trustpilot"),
        ("search 'crashes' (mentions)", "/earful/mentions?_search=crashes"),
        ("search 'refund' (mentions_view)", "/earful/mentions_view?_search=refund"),
        # The search box for words from every mention to none (make_db.py: share of rows).
        ("search 'refund' (mentions, 19 %)", "/earful/mentions?_search=refund"),
        ("search 'crashes' (mentions_view, 8 %)", "/earful/mentions_view?_search=crashes"),
        ("search 'larkspur' (mentions_view, brand name, 60 %)",
         "/earful/mentions_view?_search=larkspur"),
        ("search 'larkspur' (mentions, 60 %)", "/earful/mentions?_search=larkspur"),
        ("search 'warranty' (mentions_view, 0.2 %)", "/earful/mentions_view?_search=warranty"),
        ("search 'zeppelin' (mentions_view, 20 mentions)",
         "/earful/mentions_view?_search=zeppelin"),
        ("search 'zeppelin' (mentions, 20 mentions)", "/earful/mentions?_search=zeppelin"),
        ("search 'xyzzy' (mentions_view, no match)", "/earful/mentions_view?_search=xyzzy"),
        ("search '\"charged twice' (mentions_view, escaped)",
         "/earful/mentions_view?_search=%22charged+twice"),
        ("search 'refund' + brand=Quillo (mentions_view)",
         "/earful/mentions_view?_search=refund&brand=Quillo"),
        ("search 'refund' + facet brand (mentions_view)",
         "/earful/mentions_view?_search=refund&_facet=brand"),
        ("search 'refund' page 3 (mentions_view)",
         "/earful/mentions_view?_search=refund&_next=100"),
        ("search 'refund' .json (mentions_view, exact count)",
         "/earful/mentions_view.json?_search=refund"),
        ("search 'zeppelin' .json (mentions_view)", "/earful/mentions_view.json?_search=zeppelin"),
        ("row page", f"/earful/mentions/{tilde_encode(mention)}"),
        ("home page", "/"),
        ("dashboard page", "/-/dashboards/negatives?days=90"),
        ("competitors dashboard page", "/-/dashboards/competitors?days=30"),
    ]
    meta = yaml.safe_load((ROOT / "metadata.yml").read_text())
    params = {"brand": "Larkspur", "episode": episode}
    for name, query in meta["databases"]["earful"]["queries"].items():
        if query.get("write") or name == "search_mentions":  # measured above with terms
            continue
        used = {k: v for k, v in params.items() if f":{k}" in query["sql"]}
        out.append((f"canned: {name}", f"/earful/{name}?{urllib.parse.urlencode(used)}"))
    from datasette_dashboards import replace_opts_in_query

    for board, days in (("negatives", "90"), ("competitors", "30")):
        charts = meta["plugins"]["datasette-dashboards"][board]["charts"]
        for slug, chart in charts.items():
            sql = replace_opts_in_query(chart["query"], {"days": days})
            out.append((f"chart data: {slug}", "/earful.json?" + urllib.parse.urlencode(
                {"sql": sql, "days": days, "_shape": "objects"})))
    return out


def fetch(base: str, path: str) -> tuple[float, bytes]:
    start = time.perf_counter()
    with urllib.request.urlopen(base + path, timeout=60) as resp:
        body = resp.read()
    return time.perf_counter() - start, body


TIMED_OUT = re.compile(rb'<p class="facets-timed-out">These facets timed out: ([^<]*)</p>')


def warnings_in(base: str, path: str, html: bytes | None = None) -> str:
    """Timed-out facets, read from the HTML page (Datasette 0.65 says so only there: its
    JSON has no facets_timed_out), and truncated rows, read from the page's JSON."""
    p = urllib.parse.urlsplit(path)
    notes = []
    if not p.path.endswith(".json"):
        if html is None:
            _, html = fetch(base, path)
        for found in TIMED_OUT.findall(html):
            notes.append("FACETS TIMED OUT: " + found.decode())
    if p.path.startswith("/-/"):
        return "; ".join(notes)
    json_path = (p.path + ".json" if not p.path.endswith(".json") else p.path) + "?" + p.query
    try:
        _, body = fetch(base, json_path)
    except urllib.error.HTTPError as exc:
        return "; ".join([*notes, f"JSON: HTTP {exc.code}"])
    data = json.loads(body)
    if data.get("truncated"):
        notes.append("TRUNCATED")
    return "; ".join(notes)


def start(database: Path, plugin: bool = True) -> tuple[subprocess.Popen, str]:
    """Datasette as `earful serve` starts it; without earful's plugin if asked."""
    port = free_port()
    cmd = serve.datasette_args(database, "127.0.0.1", port)
    if not plugin:
        cmd[1:3] = ["-c", "import sys; from datasette.plugins import pm; "
                    "pm.unregister(name='earful'); from datasette.cli import cli; "
                    "sys.argv[0] = 'datasette'; cli()"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "DATASETTE_SECRET": "bench"})
    base = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            fetch(base, "/-/versions.json")
            break
        except OSError:
            time.sleep(0.2)
    return proc, base


def percentiles(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]


def compare(database: Path, runs: int, only: str) -> None:
    """Before (no plugin) and after, request by request alternating, same load on both."""
    servers = [start(database, plugin=False), start(database, plugin=True)]
    try:
        print("| page | before p50 | before p95 | after p50 | after p95 | notes |\n"
              "|---|---:|---:|---:|---:|---|")
        for label, path in pages(database):
            if only and not re.search(only, label):
                continue
            times: list[list[float]] = [[], []]
            for _, base in servers:
                fetch(base, path)  # warm the page cache
            for i in range(runs):
                for k in (0, 1) if i % 2 == 0 else (1, 0):
                    times[k].append(fetch(servers[k][1], path)[0] * 1000)
            (b50, b95), (a50, a95) = percentiles(times[0]), percentiles(times[1])
            notes = warnings_in(servers[1][1], path)
            print(f"| {label} | {b50:.0f} | {b95:.0f} | {a50:.0f} | {a95:.0f} | {notes} |",
                  flush=True)
    finally:
        for proc, _ in servers:
            proc.terminate()
            proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database", type=Path)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--only", default="", help="regex: measure only pages whose label matches")
    parser.add_argument("--limit-ms", type=float, default=200,
                        help="p95 goal per page; the run fails (exit 1) past it")
    parser.add_argument("--compare-plugin", action="store_true",
                        help="before/after columns: without and with earful's Datasette plugin")
    args = parser.parse_args()
    if args.compare_plugin:
        compare(args.database, args.runs, args.only)
        return
    proc, base = start(args.database)
    failed: list[str] = []
    try:
        print("| page | p50 ms | p95 ms | notes |\n|---|---:|---:|---|")
        for label, path in pages(args.database):
            if args.only and not re.search(args.only, label):
                continue
            try:
                fetch(base, path)  # warm the page cache
            except urllib.error.HTTPError as exc:
                print(f"| {label} | - | - | HTTP {exc.code}: {exc.read()[:200]!r} |")
                failed.append(f"{label}: HTTP {exc.code}")
                continue
            times, errors, timed_out = [], 0, 0
            for _ in range(args.runs):
                try:
                    seconds, body = fetch(base, path)
                except urllib.error.HTTPError:  # e.g. 400 "SQL Interrupted" at the time limit
                    errors += 1
                    continue
                times.append(seconds * 1000)
                timed_out += bool(TIMED_OUT.search(body))
            if not times:
                print(f"| {label} | - | - | every run failed (time limit) |", flush=True)
                failed.append(f"{label}: every run failed")
                continue
            times.sort()
            p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
            notes = [n for n in (
                warnings_in(base, path),
                f"facets timed out in {timed_out} of {len(times)} runs" if timed_out else "",
                f"{errors} runs failed" if errors else "") if n]
            print(f"| {label} | {statistics.median(times):.0f} | {p95:.0f} | "
                  f"{'; '.join(notes)} |", flush=True)
            if timed_out or errors or any("TIMED OUT" in n for n in notes):
                failed.append(f"{label}: {'; '.join(notes)}")
            elif p95 > args.limit_ms:
                failed.append(f"{label}: p95 {p95:.0f} ms over {args.limit_ms} ms")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    if failed:
        # Loudly: a page that drops a facet or misses the goal is a failure, not a footnote.
        print("\nFAILED:\n" + "\n".join(f"- {f}" for f in failed), file=sys.stderr)
        raise SystemExit(1)

if __name__ == "__main__":
    main()
