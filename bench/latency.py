"""Small-query latency through psycopg2, as a Python client meets it (bench/serving.rs runs it).

    python3 bench/latency.py connect DSN N
        N times: connect (with the DSN's password: SCRAM), SELECT 1, close.
    python3 bench/latency.py lookup DSN N SQL MAX_KEY
        One connection; N times SQL with one random key in 1..MAX_KEY, which must find one row.

Prints one JSON line: {"n": N, "p50_ms": …, "p95_ms": …}. Asserts nothing about time.
"""

import json
import random
import sys
import time

import psycopg2


def percentile(times, p):
    times = sorted(times)
    return times[min(len(times) - 1, int(len(times) * p))] * 1000.0


def main(argv):
    mode, dsn, n = argv[1], argv[2], int(argv[3])
    times = []
    if mode == "connect":
        for _ in range(n + 5):
            t = time.perf_counter()
            c = psycopg2.connect(dsn)
            cur = c.cursor()
            cur.execute("SELECT 1")
            assert cur.fetchall() == [(1,)]
            c.close()
            times.append(time.perf_counter() - t)
    elif mode == "lookup":
        sql, max_key = argv[4], int(argv[5])
        c = psycopg2.connect(dsn)
        c.autocommit = True
        cur = c.cursor()
        rnd = random.Random(7)
        for _ in range(n + 5):
            key = rnd.randint(1, max_key)
            t = time.perf_counter()
            cur.execute(sql, (key,))
            rows = cur.fetchall()
            times.append(time.perf_counter() - t)
            assert len(rows) == 1, f"key {key}: {len(rows)} rows"
        c.close()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    # The first few warm the caches (the table's metadata, the server's plan of the catalog).
    times = times[5:]
    print(json.dumps({"n": n, "p50_ms": percentile(times, 0.5), "p95_ms": percentile(times, 0.95)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
