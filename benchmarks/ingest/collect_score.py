"""Collect then score: the ingest benchmark's rows through save_mentions and the score stage.

    python benchmarks/ingest/collect_score.py --rows 100000
    python benchmarks/ingest/collect_score.py --rows 100000 --root /tmp/old   # another checkout

Shows whether a change to the save path saved work or only moved it to the score stage:
run it for two checkouts of the code alternately (e.g. `git worktree add /tmp/old REV`) and
compare whole-process times. One process, a fresh database, score_workers = 1.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--root", type=Path, default=HERE.parents[1],
                        help="the checkout whose earful is measured (default: this one)")
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: tmp)")
    args = parser.parse_args()
    # The measured checkout's packages first; run.py (only its row generator is used here)
    # then finds them already imported.
    sys.path.insert(0, str(args.root.resolve()))
    from earful import db as store
    from earful import pipeline
    from tests.conftest import make_config

    sys.path.insert(1, str(HERE))
    import run as rows

    work = args.dir or Path(tempfile.mkdtemp(prefix="earful-collect-score-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    config = make_config(work)
    config.earful["score_workers"] = 1
    db = store.connect(config.database)
    rows.BATCH = pipeline.BATCH  # the measured checkout's collect batch
    start = time.perf_counter()
    for batch in rows.batches(args.rows):
        with db.atomic():
            store.save_mentions(db, "Acme", batch, collected_at="2026-11-01T00:00:00Z")
    collected = time.perf_counter()
    pipeline.score(db, config, show_progress=False)
    done = time.perf_counter()
    db.close()
    print(json.dumps({"root": str(Path(store.__file__).parents[1]), "rows": args.rows,
                      "collect_s": round(collected - start, 2),
                      "score_s": round(done - collected, 2), "total_s": round(done - start, 2)}))


if __name__ == "__main__":
    main()
