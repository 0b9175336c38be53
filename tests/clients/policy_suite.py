"""Access policies as Python clients see them: SQLAlchemy's inspector (Superset's schema browser)
and psycopg2 queries, as a user without the supply product and as a regional user with a row
filter and a column mask."""
import psycopg2
import sqlalchemy
from sqlalchemy import inspect

from common import Checks, params

p = params()
c = Checks("policy")


def engine(user, password):
    url = sqlalchemy.engine.URL.create("postgresql+psycopg2", username=user, password=password, host=p["host"],
                                       port=p["port"], database=p["dbname"])
    return sqlalchemy.create_engine(url)


def connect(user, password):
    return psycopg2.connect(host=p["host"], port=p["port"], dbname=p["dbname"], user=user, password=password)


# The sales analyst: no supply product anywhere.
insp = inspect(engine(p["sales_analyst_user"], p["sales_analyst_password"]))
schemas = insp.get_schema_names()
c.true("sales analyst: supply not listed", "supply" not in schemas and "sales" in schemas, repr(schemas))
c.eq("sales analyst: no supply tables", insp.get_table_names(schema="supply"), [])
c.true("sales analyst: has_table(supply.part) is false", not insp.has_table("part", schema="supply"))
with connect(p["sales_analyst_user"], p["sales_analyst_password"]) as conn:
    cur = conn.cursor()
    try:
        cur.execute("SELECT count(*) FROM supply.part")
        c.true("sales analyst: reading supply.part is refused", False)
    except psycopg2.Error as e:
        c.eq("sales analyst: reading supply.part is refused with 42501", e.pgcode, "42501")
        c.eq("sales analyst: the error names the table only", e.pgerror.splitlines()[0], "ERROR:  permission denied for table supply.part")

# The regional user: filtered customers, masked phones; columns keep their names and types.
admin_insp = inspect(engine(p["admin_user"], p["admin_password"]))
reg_insp = inspect(engine(p["regional_user"], p["regional_password"]))
admin_cols = {col["name"]: type(col["type"]).__name__ for col in admin_insp.get_columns("customer", schema="sales")}
reg_cols = {col["name"]: type(col["type"]).__name__ for col in reg_insp.get_columns("customer", schema="sales")}
c.eq("regional: customer columns and types as the admin sees them", reg_cols, admin_cols)
with connect(p["regional_user"], p["regional_password"]) as conn, connect(p["admin_user"], p["admin_password"]) as admin:
    cur, acur = conn.cursor(), admin.cursor()
    acur.execute("SELECT c_custkey FROM sales.customer WHERE c_nationkey IN (SELECT n_nationkey FROM geo.nation "
                 "JOIN geo.region ON n_regionkey = r_regionkey WHERE r_name = 'EUROPE') ORDER BY 1")
    want = [r[0] for r in acur.fetchall()]
    cur.execute("SELECT c_custkey, c_phone FROM sales.customer ORDER BY 1")
    got = cur.fetchall()
    c.eq("regional: exactly the European customers", [r[0] for r in got], want)
    c.true("regional: every phone masked", all(r[1].endswith("****") for r in got))
    # A named (server-side) cursor, as psycopg2 streams large results.
    named = conn.cursor(name="stream")
    named.itersize = 7
    named.execute("SELECT c_custkey FROM sales.customer")
    c.eq("regional: a named cursor streams the same rows", sorted(r[0] for r in named), want)
    named.close()
c.done()
