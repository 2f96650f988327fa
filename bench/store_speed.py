"""Time to store classified messages, per message, in the service's micro-batch size (not part of the
test run). Compares the store's insert (Core executemany with RETURNING in parameter order) with the
ORM unit of work it replaced (``add_all`` + ``flush``), alternating, on a fresh database each.

    python bench/store_speed.py [--database-url URL] [--batch 16] [--rounds 3]

Default: a fresh SQLite file in a temporary directory. With ``--database-url`` (e.g. the local
PostgreSQL) the messages table there is used as it is: point it at a scratch database. Prints the
median microseconds per message of each method per round; the rows themselves (redaction, review
priority) are built the same way for both and timed separately.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from triage.engine import Triage  # noqa: E402
from triage.io import read_records  # noqa: E402
from triage.store import Store  # noqa: E402
from triage.store.migrate import upgrade  # noqa: E402
from triage.store.service import NewMessage, utcnow  # noqa: E402
from triage.store.tables import Message  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    texts = [r["text"] for r in read_records(REPO / "data" / "samples" / "test.jsonl")]
    preds = [r.to_dict() for r in Triage.load().classify_batch(texts, explain=True)]
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='triage-store-')}/bench.db"
    store = Store(url)
    upgrade(store.engine)
    batches = [(texts[b:b + args.batch], preds[b:b + args.batch]) for b in range(0, len(texts), args.batch)]

    def rows(ts, ps):
        now = utcnow()
        return [store._row(NewMessage(text=t, channel="bench"), p, now) for t, p in zip(ts, ps, strict=True)]

    def store_insert():
        for ts, ps in batches:
            store.save_classified([NewMessage(text=t, channel="bench") for t in ts], ps)

    def orm_flush():
        for ts, ps in batches:
            with store.sessions() as s, s.begin():
                objs = [Message(**r) for r in rows(ts, ps)]
                s.add_all(objs)
                s.flush()
                [o.id for o in objs]

    def rows_only():
        for ts, ps in batches:
            rows(ts, ps)

    methods = {"store (Core executemany)": store_insert, "ORM add_all + flush": orm_flush, "rows only": rows_only}
    for r in range(args.rounds):
        line = []
        for name, f in methods.items():
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                f()
                times.append((time.perf_counter() - t0) / len(texts) * 1e6)
            line.append(f"{name} {statistics.median(times):.1f}")
        print(f"round {r + 1} ({store.dialect}, batches of {args.batch}), us per message: " + "; ".join(line), flush=True)
    store.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
