"""psycopg2 (dbt's driver) against meshgate: parameters, named server-side cursors, type OIDs in
cursor.description, SQLSTATEs on errors, session statements dbt and its users send."""
import datetime
import decimal

import psycopg2
import psycopg2.errors

from common import Checks, params

p = params()
c = Checks("psycopg2")
conn = psycopg2.connect(host=p["host"], port=p["port"], user=p["user"], password=p["password"], dbname=p["dbname"],
                        application_name="psycopg2-suite")

# Parameters are interpolated client-side; the server sees literals of every kind.
with conn.cursor() as cur:
    cur.execute("SELECT n_name FROM geo.nation WHERE n_nationkey = %s AND n_name LIKE %s", (7, "GER%"))
    c.eq("parameterised query", cur.fetchall(), [("GERMANY",)])
    cur.execute("SELECT %s::date, %s::numeric(10,2), %s::text", (datetime.date(1995, 3, 15), decimal.Decimal("12.50"), "o'hara"))
    c.eq("date, numeric and quoted text parameters", cur.fetchone(), (datetime.date(1995, 3, 15), decimal.Decimal("12.50"), "o'hara"))

    cur.execute("SELECT o_orderkey, o_totalprice, o_orderdate, o_comment FROM sales.orders ORDER BY o_orderkey LIMIT 1")
    row = cur.fetchone()
    c.eq("description names", [d.name for d in cur.description], ["o_orderkey", "o_totalprice", "o_orderdate", "o_comment"])
    c.eq("description type OIDs (int8, numeric, date, text)", [d.type_code for d in cur.description], [20, 1700, 1082, 25])
    c.eq("numeric precision and scale", (cur.description[1].precision, cur.description[1].scale), (15, 2))
    c.eq("typed values", (type(row[0]), type(row[1]), type(row[2]), type(row[3])), (int, decimal.Decimal, datetime.date, str))

    cur.execute("SELECT count(*), sum(l_extendedprice) FROM sales.lineitem")
    total_rows, total_price = cur.fetchone()
    c.true("lineitem has rows", total_rows > 10_000, f"({total_rows})")
conn.commit()

# A named cursor: DECLARE … CURSOR WITHOUT HOLD inside BEGIN, then FETCH FORWARD itersize.
with conn.cursor(name="big_scan") as cur:
    cur.itersize = 2000
    cur.execute("SELECT l_orderkey, l_extendedprice FROM sales.lineitem")
    n, s = 0, decimal.Decimal(0)
    for key, price in cur:
        n += 1
        s += price
    c.eq("named cursor iterates every lineitem row", n, total_rows)
    c.eq("named cursor rows sum to the server's sum", s, total_price)
conn.commit()

with conn.cursor(name="pages") as cur:
    cur.execute("SELECT o_orderkey FROM sales.orders ORDER BY o_orderkey")
    first = cur.fetchmany(100)
    second = cur.fetchmany(100)
    c.eq("fetchmany pages have the asked size", (len(first), len(second)), (100, 100))
    c.true("pages continue where the previous ended", first[-1][0] < second[0][0])
    c.eq("named cursor description OID", cur.description[0].type_code, 20)
    cur.scroll(10)
    after = cur.fetchone()
conn.commit()
with conn.cursor() as cur:
    cur.execute("SELECT o_orderkey FROM sales.orders ORDER BY o_orderkey OFFSET 210 LIMIT 1")
    c.eq("scroll(10) moves forward with MOVE", after, cur.fetchone())
conn.commit()

# Errors carry PostgreSQL's SQLSTATE; the transaction is then aborted until rollback.
with conn.cursor() as cur:
    try:
        cur.execute("SELECT * FROM sales.nope")
        c.true("unknown table fails", False)
    except psycopg2.errors.UndefinedTable as e:
        c.eq("unknown table: pgcode", e.pgcode, "42P01")
    conn.rollback()
    try:
        cur.execute("SELEC 1")
        c.true("syntax error fails", False)
    except psycopg2.errors.SyntaxError as e:
        c.eq("syntax error: pgcode", e.pgcode, "42601")
    conn.rollback()
    try:
        cur.execute("DELETE FROM sales.orders")
        c.true("writes fail", False)
    except psycopg2.errors.InsufficientPrivilege as e:
        c.eq("write refused: pgcode", e.pgcode, "42501")
    conn.rollback()

# Session statements.
conn.set_session(isolation_level="SERIALIZABLE", readonly=True)
with conn.cursor() as cur:
    cur.execute("SHOW TRANSACTION ISOLATION LEVEL")
    c.eq("isolation level set by set_session", cur.fetchone()[0], "serializable")
conn.rollback()
conn.set_session(isolation_level="READ COMMITTED", readonly=False)
conn.autocommit = True
with conn.cursor() as cur:
    cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    cur.execute("SHOW TRANSACTION ISOLATION LEVEL")
    c.eq("SET SESSION CHARACTERISTICS", cur.fetchone()[0], "repeatable read")
    cur.execute("BEGIN READ ONLY ISOLATION LEVEL SERIALIZABLE")
    cur.execute("SHOW TRANSACTION ISOLATION LEVEL")
    c.eq("BEGIN … ISOLATION LEVEL", cur.fetchone()[0], "serializable")
    cur.execute("COMMIT")
    cur.execute(f"SET ROLE {p['user']}")
    cur.execute("RESET ROLE")
    try:
        cur.execute("SET ROLE somebody_else")
        c.true("SET ROLE to a role not held fails", False)
    except psycopg2.errors.InsufficientPrivilege as e:
        c.eq("SET ROLE to a role not held: pgcode", e.pgcode, "42501")
    cur.execute("SELECT pg_backend_pid()")
    pid = cur.fetchone()[0]
    c.eq("pid is BackendKeyData's", pid, conn.info.backend_pid)

# Temporary tables as Tableau writes them.
with conn.cursor() as cur:
    cur.execute('CREATE LOCAL TEMPORARY TABLE "#Tableau_1_filter" ("COL" INTEGER, "NAME" TEXT) ON COMMIT PRESERVE ROWS')
    cur.execute('INSERT INTO "#Tableau_1_filter" ("COL", "NAME") VALUES (1, %s), (3, %s)', ("one", "three"))
    c.eq("insert row count", cur.rowcount, 2)
    cur.execute('SELECT n.n_name FROM geo.nation n JOIN "#Tableau_1_filter" f ON n.n_nationkey = f."COL" ORDER BY 1')
    c.eq("temporary table joins the mesh", cur.fetchall(), [("ARGENTINA",), ("CANADA",)])
    cur.execute('DROP TABLE "#Tableau_1_filter"')
    try:
        cur.execute('SELECT * FROM "#Tableau_1_filter"')
        c.true("dropped temporary table is gone", False)
    except psycopg2.errors.UndefinedTable as e:
        c.eq("dropped temporary table: pgcode", e.pgcode, "42P01")
    try:
        cur.execute("CREATE TABLE public.t (a int)")
        c.true("non-temporary CREATE TABLE fails", False)
    except psycopg2.errors.InsufficientPrivilege as e:
        c.eq("non-temporary CREATE TABLE: pgcode", e.pgcode, "42501")

# pg_cancel_backend / pg_terminate_backend act on the user's own sessions; admins on any.
def connect(user, password):
    return psycopg2.connect(host=p["host"], port=p["port"], user=user, password=password, dbname=p["dbname"])


mine = connect(p["user"], p["password"])
admin = connect(p["admin_user"], p["admin_password"])
admin.autocommit = True
with conn.cursor() as cur:
    cur.execute("SELECT pg_cancel_backend(%s)", (mine.info.backend_pid,))
    c.eq("pg_cancel_backend on one's own other session", cur.fetchone()[0], True)
    cur.execute("SELECT pg_cancel_backend(%s)", (999_999,))
    c.eq("pg_cancel_backend on no session", cur.fetchone()[0], False)
    for fn in ("pg_cancel_backend", "pg_terminate_backend"):
        try:
            cur.execute(f"SELECT {fn}(%s)", (admin.info.backend_pid,))
            c.true(f"{fn} on another user's session fails", False)
        except psycopg2.errors.InsufficientPrivilege as e:
            c.eq(f"{fn} on another user's session: pgcode", e.pgcode, "42501")
    cur.execute("SELECT pg_terminate_backend(%s)", (mine.info.backend_pid,))
    c.eq("pg_terminate_backend on one's own other session", cur.fetchone()[0], True)


def check_terminated(victim, what):
    try:
        with victim.cursor() as vc:
            vc.execute("SELECT 1")
        c.true(f"{what}: session is closed", False)
    except psycopg2.OperationalError as e:
        c.true(f"{what}: session ended", victim.closed or "administrator command" in str(e), str(e))


check_terminated(mine, "terminated by its user")
with admin.cursor() as cur:
    cur.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
    c.eq("an admin terminates another user's session", cur.fetchone()[0], True)
check_terminated(conn, "terminated by an admin")
admin.close()
c.done()
