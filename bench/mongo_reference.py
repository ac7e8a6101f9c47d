#!/usr/bin/env python3
"""Reference MongoDB write client: how fast plain pymongo inserts smart-meter readings.

Inserts --docs documents shaped like the rows wattswarm writes,

    {_id: int64, lclid: "MAC000002", tariff: "Std", ts: datetime (BSON date),
     kwh: 0.123 (double), acorn: "ACORN-A", acorn_grouped: "Affluent"}

with `insert_many(ordered=False)` in batches of --batch from --threads threads sharing
one MongoClient, and prints one JSON line: docs, seconds, docs/s and MB/s of BSON
(1 MB = 1e6 bytes of encoded documents, not counting the OP_MSG framing).

usage: bench/mongo_reference.py --uri mongodb://127.0.0.1:27017/ [--db power]
           [--collection readings] [--docs 1000000] [--threads 4] [--batch 10000]
           [--start-id 0] [--keep] [--household-day PARQUET]

With --household-day, the documents are instead those wattswarm's master loads into
`household_day` from that `results/household_day.parquet`,

    {_id: int64 (the row's place), lclid, day: datetime, readings: int64, kwh_sum: double, job}

read with pyarrow before the timer starts, so both sides insert the same documents.

Run it with the anchors venv (~/.cache/wattswarm-anchors/bin/python, which has pymongo).
The collection is dropped first unless --keep. Each document is encoded to BSON in the
worker thread right before its batch is sent (as pymongo would encode it anyway), and the
timer covers generation, encoding and the inserts. Duplicate _id errors (with --keep and
overlapping --start-id) are counted, not fatal.
"""
import argparse, datetime, json, sys, threading, time

try:
    import bson
    from bson import Int64
    from bson.raw_bson import RawBSONDocument
    import pymongo
    from pymongo.errors import BulkWriteError
except ImportError:
    sys.exit("pymongo is missing: run this with ~/.cache/wattswarm-anchors/bin/python")

BASE = datetime.datetime(2011, 11, 23, tzinfo=datetime.timezone.utc)
HALF_HOUR = datetime.timedelta(minutes=30)
HOUSEHOLD_ROWS = 25_000  # half-hours per household before the next lclid


def batch(start, n):
    """n encoded documents with _id start..start+n, and their total BSON size."""
    docs, size = [], 0
    for i in range(start, start + n):
        raw = bson.encode({
            "_id": Int64(i),
            "lclid": "MAC%06d" % (2 + i // HOUSEHOLD_ROWS),
            "tariff": "Std",
            "ts": BASE + HALF_HOUR * (i % HOUSEHOLD_ROWS),
            "kwh": 0.123,
            "acorn": "ACORN-A",
            "acorn_grouped": "Affluent",
        })
        size += len(raw)
        docs.append(RawBSONDocument(raw))
    return docs, size


def household_day_docs(path):
    """The household_day documents of a results/household_day.parquet, as BSON, in order."""
    import pyarrow.parquet as pq
    t = pq.read_table(path)
    lclid = t.column("lclid").to_pylist()
    day = t.column("day").to_pylist()
    readings = t.column("readings").to_pylist()
    kwh = t.column("kwh_sum").to_pylist()
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return [bson.encode({
        "_id": Int64(i), "lclid": lclid[i],
        "day": epoch + datetime.timedelta(days=(day[i] - datetime.date(1970, 1, 1)).days),
        "readings": Int64(readings[i]), "kwh_sum": float(kwh[i]), "job": "reference",
    }) for i in range(len(lclid))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--uri", required=True)
    ap.add_argument("--db", default="power")
    ap.add_argument("--collection", default="readings")
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--start-id", type=int, default=0)
    ap.add_argument("--keep", action="store_true", help="do not drop the collection first")
    ap.add_argument("--household-day", help="insert this household_day.parquet's documents instead")
    a = ap.parse_args()
    prepared = household_day_docs(a.household_day) if a.household_day else None
    if prepared is not None:
        a.docs, a.start_id = len(prepared), 0
    if a.docs < 0 or a.threads < 1 or a.batch < 1:
        sys.exit("--docs must be >= 0, --threads and --batch >= 1")

    client = pymongo.MongoClient(a.uri, maxPoolSize=max(a.threads, 1) + 2)
    client.admin.command("ping")
    coll = client[a.db][a.collection]
    if not a.keep:
        coll.drop()

    starts = list(range(a.start_id, a.start_id + a.docs, a.batch))
    lock = threading.Lock()
    totals = {"inserted": 0, "bytes": 0, "dup_errors": 0, "batches": 0}
    failure = []
    go = threading.Barrier(a.threads + 1)

    def worker(k):
        go.wait()
        try:
            for s in starts[k::a.threads]:
                n = min(a.batch, a.start_id + a.docs - s)
                if prepared is None:
                    docs, size = batch(s, n)
                else:
                    raw = prepared[s:s + n]
                    docs, size = [RawBSONDocument(r) for r in raw], sum(map(len, raw))
                try:
                    coll.insert_many(docs, ordered=False)
                    inserted, dups = n, 0  # raw documents: inserted_ids stays empty
                except BulkWriteError as e:
                    errs = e.details.get("writeErrors", [])
                    if any(w.get("code") != 11000 for w in errs):
                        raise
                    inserted, dups = e.details.get("nInserted", 0), len(errs)
                with lock:
                    totals["inserted"] += inserted
                    totals["dup_errors"] += dups
                    totals["bytes"] += size
                    totals["batches"] += 1
        except Exception as e:  # surfaced after join
            failure.append(repr(e))

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(a.threads)]
    for t in threads:
        t.start()
    go.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    secs = time.perf_counter() - t0
    if failure:
        sys.exit("insert failed: " + failure[0])

    print(json.dumps({
        "client": "pymongo " + pymongo.version,
        "uri": a.uri, "db": a.db, "collection": a.collection,
        "docs": a.docs, "inserted": totals["inserted"], "dup_errors": totals["dup_errors"],
        "threads": a.threads, "batch": a.batch, "batches": totals["batches"],
        "bson_bytes": totals["bytes"],
        "seconds": round(secs, 3),
        "docs_per_s": round(a.docs / secs, 1) if secs > 0 else None,
        "mb_per_s": round(totals["bytes"] / 1e6 / secs, 3) if secs > 0 else None,
    }))
    client.close()


if __name__ == "__main__":
    main()
