"""DuckDB for bench/tpch.rs: views over Parquet directories, then one query file per stdin line.

Arguments are `schema.table=<directory of Parquet files>`. Prints `ready`, then for each query
file path read from stdin `<seconds> <rows>` with every row fetched into Python, as a client of
DuckDB would.
"""

import sys
import time

import duckdb


def main() -> None:
    con = duckdb.connect()
    for view in sys.argv[1:]:
        name, directory = view.split("=", 1)
        schema, table = name.split(".")
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        con.execute(
            f"CREATE VIEW {schema}.{table} AS SELECT * FROM read_parquet('{directory}/*.parquet')"
        )
    print("ready", flush=True)
    for line in sys.stdin:
        with open(line.strip()) as f:
            sql = f.read()
        started = time.perf_counter()
        rows = con.execute(sql).fetchall()
        print(f"{time.perf_counter() - started} {len(rows)}", flush=True)


if __name__ == "__main__":
    main()
