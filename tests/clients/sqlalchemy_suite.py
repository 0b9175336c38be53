"""SQLAlchemy 2's PostgreSQL inspector (what Superset's schema browser calls) against meshgate,
through psycopg2."""
import sqlalchemy
from sqlalchemy import inspect, text

from common import Checks, params

p = params()
c = Checks("sqlalchemy")
url = sqlalchemy.engine.URL.create("postgresql+psycopg2", username=p["user"], password=p["password"], host=p["host"],
                                   port=p["port"], database=p["dbname"])
engine = sqlalchemy.create_engine(url)
insp = inspect(engine)

schemas = insp.get_schema_names()
for s in ("geo", "sales", "supply", "public"):
    c.true(f"schema {s} listed", s in schemas, repr(schemas))
c.true("pg_ schemas not listed (information_schema is, as on PostgreSQL)", "pg_catalog" not in schemas, repr(schemas))

c.eq("tables of sales", sorted(insp.get_table_names(schema="sales")), ["customer", "lineitem", "orders"])
c.eq("views of sales", insp.get_view_names(schema="sales"), [])

cols = insp.get_columns("orders", schema="sales")
by_name = {col["name"]: col for col in cols}
c.eq("column order", [col["name"] for col in cols][:5], ["o_orderkey", "o_custkey", "o_orderstatus", "o_totalprice", "o_orderdate"])
c.eq("bigint column", type(by_name["o_orderkey"]["type"]).__name__, "BIGINT")
price = by_name["o_totalprice"]["type"]
c.eq("numeric(15,2) column", (type(price).__name__, price.precision, price.scale), ("NUMERIC", 15, 2))
c.eq("date column", type(by_name["o_orderdate"]["type"]).__name__, "DATE")
c.eq("text column", type(by_name["o_comment"]["type"]).__name__, "TEXT")
c.eq("column comment = the domain's description", by_name["o_orderdate"]["comment"], p["descriptions"]["o_orderdate"])
c.eq("table comment = the domain's description", insp.get_table_comment("orders", schema="sales")["text"], p["descriptions"]["orders"])

c.eq("primary key (none declared)", insp.get_pk_constraint("orders", schema="sales")["constrained_columns"], [])
c.eq("foreign keys (none declared)", insp.get_foreign_keys("orders", schema="sales"), [])
c.eq("indexes", insp.get_indexes("orders", schema="sales"), [])
c.eq("unique constraints", insp.get_unique_constraints("orders", schema="sales"), [])
c.true("has_table", insp.has_table("lineitem", schema="sales") and not insp.has_table("nope", schema="sales"))

with engine.connect() as conn:
    c.eq("a query through the engine", conn.execute(text("SELECT count(*) FROM geo.nation")).scalar(), 25)
    c.true("server version parsed", engine.dialect.server_version_info[0] >= 12, repr(engine.dialect.server_version_info))
engine.dispose()
c.done()
