"""psycopg 3 against meshgate: server-side parameter binding, binary results, prepared
statements, pipeline mode."""
import datetime
import decimal

import psycopg
import psycopg.sql

from common import Checks, params

p = params()
c = Checks("psycopg3")
conninfo = f"host={p['host']} port={p['port']} user={p['user']} password={p['password']} dbname={p['dbname']}"

with psycopg.connect(conninfo, autocommit=True) as conn:
    # Server-side binding: the query goes with $1 placeholders, the values in Bind.
    cur = conn.execute("SELECT n_name, n_regionkey FROM geo.nation WHERE n_nationkey = %s", (7,))
    c.eq("bound parameter", cur.fetchall(), [("GERMANY", 3)])
    cur = conn.execute("SELECT count(*) FROM sales.orders WHERE o_orderdate < %s AND o_totalprice > %s",
                       (datetime.date(1993, 1, 1), decimal.Decimal("1000.00")))
    bound = cur.fetchone()[0]
    cur = conn.execute("SELECT count(*) FROM sales.orders WHERE o_orderdate < DATE '1993-01-01' AND o_totalprice > 1000.00")
    c.eq("date and numeric parameters filter as literals do", bound, cur.fetchone()[0])
    c.true("the filter keeps rows", bound > 0)

    # Binary results: every column comes in PostgreSQL's binary format.
    with conn.cursor(binary=True) as cur:
        cur.execute("SELECT o_orderkey, o_totalprice, o_orderdate, o_orderstatus, CAST(o_orderdate AS timestamp) AS ts "
                    "FROM sales.orders WHERE o_orderkey = %s", (1,))
        row = cur.fetchone()
        c.eq("binary formats requested", [d.type_code for d in cur.description], [20, 1700, 1082, 25, 1114])
        with conn.cursor() as text_cur:
            text_cur.execute("SELECT o_orderkey, o_totalprice, o_orderdate, o_orderstatus, CAST(o_orderdate AS timestamp) AS ts "
                             "FROM sales.orders WHERE o_orderkey = 1")
            c.eq("binary and text results decode to the same values", row, text_cur.fetchone())
        c.eq("binary types", [type(v) for v in row], [int, decimal.Decimal, datetime.date, str, datetime.datetime])
        cur.execute("SELECT sum(l_extendedprice), count(*) FROM sales.lineitem WHERE l_orderkey < %s", (100,))
        s, n = cur.fetchone()
        c.true("binary numeric aggregate", isinstance(s, decimal.Decimal) and n > 0, f"{s!r} {n!r}")

    # Prepared statements: prepare=True makes psycopg Parse once and Bind/Execute after.
    names = []
    for key in (0, 1, 2, 3, 4):
        cur = conn.execute("SELECT r_name FROM geo.region WHERE r_regionkey = %s", (key,), prepare=True)
        names.append(cur.fetchone()[0])
    c.eq("prepared statement over five executions", names, ["AFRICA", "AMERICA", "ASIA", "EUROPE", "MIDDLE EAST"])

    # Pipeline mode: several statements sent before any result is read.
    with conn.pipeline():
        c1 = conn.execute("SELECT count(*) FROM geo.nation")
        c2 = conn.execute("SELECT r_name FROM geo.region WHERE r_regionkey = %s", (2,))
        c3 = conn.execute("SELECT n_name FROM geo.nation WHERE n_regionkey = %s ORDER BY n_name LIMIT 2", (0,))
    c.eq("pipeline: first result", c1.fetchone()[0], 25)
    c.eq("pipeline: second result", c2.fetchone()[0], "ASIA")
    c.eq("pipeline: third result", c3.fetchall(), [("ALGERIA",), ("ETHIOPIA",)])

    # An error inside a pipeline fails that statement with its SQLSTATE.
    try:
        with conn.pipeline():
            conn.execute("SELECT * FROM sales.nope")
        c.true("error in pipeline raises", False)
    except psycopg.errors.UndefinedTable as e:
        c.eq("error in pipeline: sqlstate", e.sqlstate, "42P01")

    # Server-side cursor over a large table, fetched in pages (psycopg's DECLARE/FETCH).
    with conn.transaction():
        with conn.cursor(name="lines") as cur:
            cur.itersize = 5000
            cur.execute("SELECT l_orderkey FROM sales.lineitem")
            n = sum(1 for _ in cur)
    total = conn.execute("SELECT count(*) FROM sales.lineitem").fetchone()[0]
    c.eq("server-side cursor yields every row", n, total)

# Time travel: the demo creates sales.customer empty (version 0), then writes its rows.
with psycopg.connect(conninfo, autocommit=True) as conn:
    (created,) = conn.execute("SELECT committed_at FROM mesh.history "
                              "WHERE product = 'sales' AND table_name = 'customer' AND version = 0").fetchone()
    now = conn.execute("SELECT count(*) FROM sales.customer").fetchone()[0]
    conn.execute(psycopg.sql.SQL("SET mesh.as_of = {}").format(created.isoformat()))
    c.eq("SET mesh.as_of: the table as it was created", conn.execute("SELECT count(*) FROM sales.customer").fetchone()[0], 0)
    c.eq("SET mesh.as_of: with a bound parameter",
         conn.execute("SELECT count(*) FROM sales.customer WHERE c_custkey > %s", (0,)).fetchone()[0], 0)
    conn.execute("RESET mesh.as_of")
    c.eq("RESET mesh.as_of", conn.execute("SELECT count(*) FROM sales.customer").fetchone()[0], now)
with psycopg.connect(conninfo) as conn:
    # psycopg begins each transaction with BEGIN ISOLATION LEVEL REPEATABLE READ.
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    c.eq("REPEATABLE READ reads", conn.execute("SELECT count(*) FROM sales.customer").fetchone()[0], now)
    try:
        conn.execute("CREATE TABLE sales.copy AS SELECT 1 AS x")
        c.true("a write in REPEATABLE READ is refused", False)
    except psycopg.errors.ReadOnlySqlTransaction as e:
        c.eq("a write in REPEATABLE READ: sqlstate", e.sqlstate, "25006")
    conn.rollback()
c.done()
