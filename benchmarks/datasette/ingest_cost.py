"""What migration 8's trigger on mentions costs ingest: benchmarks/ingest `ours`, with and without.

    .venv/bin/python benchmarks/datasette/ingest_cost.py --rows 100000 --repeat 3
    .venv/bin/python benchmarks/datasette/ingest_cost.py --before-below 11   # migration 11

Runs `benchmarks/ingest/run.py --variant ours` in a fresh process per run, alternating a
schema without migration 8 ("before": no mention_facts, no trigger) and the full schema
("after"), and prints each run's write seconds and the medians. Alternating keeps the
noise of a shared machine from landing on one side only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHILD = """
import runpy, sys
sys.path.insert(0, {root!r})
from earful import db as store
if {before}:
    store.MIGRATIONS[:] = [m for m in store.MIGRATIONS if m[0] < {below}]
sys.argv = ["run.py", "--rows", "{rows}", "--variant", "ours", "--dir", {work!r}]
runpy.run_path({script!r}, run_name="__main__")
"""


def one(before: bool, rows: int, work: Path, below: int = 8) -> dict:
    code = CHILD.format(root=str(ROOT), before=before, below=below, rows=rows, work=str(work),
                        script=str(ROOT / "benchmarks/ingest/run.py"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before-below", type=int, default=8,
                        help="'before' applies the migrations numbered below this")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="earful-ingest-cost-"))
    seconds: dict[str, list[float]] = {"before": [], "after": []}
    for _ in range(args.repeat):
        for label in ("before", "after"):
            result = one(label == "before", args.rows, work, args.before_below)
            seconds[label].append(result["write_seconds"])
            print(f"{label}: {result['write_seconds']} s write, {result['seconds']} s total, "
                  f"{result['stored']} rows, {result['db_mb']} MB", flush=True)
    for label, values in seconds.items():
        print(f"median {label}: {statistics.median(values):.2f} s "
              f"({args.rows / statistics.median(values):,.0f} rows/s)")


if __name__ == "__main__":
    main()
