"""Apache Superset 6.1 against meshgate, set up as a new user sets it up, through Superset's own
REST API (the one its web pages call), served in-process by its Flask app over a throwaway
metadata database: register meshgate as a database and test the connection, list its schemas
and the tables of `sales`, read a table's metadata (columns, keys, indexes: SQLAlchemy 1.4's
reflection), add sales.orders as a dataset (which reflects the table again), then run three
charts' queries with a time range on o_orderdate (a big number, a monthly time series, a pie of
revenue by status) and a SQL Lab query bounded with TO_TIMESTAMP. The answers are checked against
the TPC-H baseline Parquet files read with pyarrow, not through meshgate.

Runs in its own virtualenv (tests/requirements-superset.txt): Superset pins SQLAlchemy 1.4."""
import datetime
import os
import tempfile

from common import Checks, params

p = params()
c = Checks("superset")

# A throwaway Superset home: its configuration (SUPERSET_CONFIG_PATH), its metadata database
# (sqlite) and its data directory.
home = tempfile.TemporaryDirectory(prefix="meshgate-superset-")
config = os.path.join(home.name, "superset_config.py")
with open(config, "w") as f:
    f.write(
        f"SECRET_KEY = {os.urandom(32).hex()!r}\n"
        f"SQLALCHEMY_DATABASE_URI = {'sqlite:///' + os.path.join(home.name, 'superset.db')!r}\n"
        f"DATA_DIR = {home.name!r}\n"
        "WTF_CSRF_ENABLED = False\n"
    )
os.environ["SUPERSET_CONFIG_PATH"] = config
os.environ["SUPERSET_HOME"] = home.name

import prison  # noqa: E402  (Superset's own dependency, for its list endpoints' `q`)
import pyarrow.compute as pc  # noqa: E402
import pyarrow.dataset as ds  # noqa: E402
import superset  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from superset.app import create_app  # noqa: E402

app = create_app()
with app.app_context():
    # `superset db upgrade`, `superset init` and `superset fab create-admin`.
    from superset import appbuilder, db, security_manager

    upgrade(directory=os.path.join(os.path.dirname(superset.__file__), "migrations"))
    appbuilder.add_permissions(update_perms=True)
    security_manager.sync_role_definitions()
    db.session.commit()
    admin = security_manager.add_user(
        "admin", "Ada", "Admin", "admin@example.org", security_manager.find_role("Admin"), password="admin-pw"
    )
    c.true("Superset's metadata database set up with an admin", bool(admin))

# Each request in its own application context, as under a web server.
client = app.test_client()
r = client.post(
    "/api/v1/security/login",
    json={"username": "admin", "password": "admin-pw", "provider": "db", "refresh": False},
)
c.eq("logged in to Superset's API", r.status_code, 200)
auth = {"Authorization": f"Bearer {r.json['access_token']}"}


def call(method, path, want, **kwargs):
    r = getattr(client, method)(path, headers=auth, **kwargs)
    detail = f"(status {r.status_code}, want {want}): {r.get_data(as_text=True)[:4000]}"
    c.true(f"{method.upper()} {path.split('?')[0]}", r.status_code == want, detail)
    return r.json


uri = f"postgresql+psycopg2://{p['user']}:{p['password']}@{p['host']}:{p['port']}/{p['dbname']}"

# "Connect a database": the form's TEST CONNECTION, then CONNECT.
got = call("post", "/api/v1/database/test_connection/", 200, json={"database_name": "meshgate", "sqlalchemy_uri": uri})
c.eq("test connection", got, {"message": "OK"})
db_id = call("post", "/api/v1/database/", 201, json={"database_name": "meshgate", "sqlalchemy_uri": uri})["id"]
db = call("get", f"/api/v1/database/{db_id}", 200)["result"]
c.eq("database registered as PostgreSQL", (db["database_name"], db["backend"]), ("meshgate", "postgresql"))

# The dataset form: schemas, then the tables of the chosen schema, then the table's metadata.
schemas = call("get", f"/api/v1/database/{db_id}/schemas/", 200)["result"]
c.true("schemas listed", {"sales", "geo", "supply"} <= set(schemas), repr(schemas))
tables = call("get", f"/api/v1/database/{db_id}/tables/?q=" + prison.dumps({"schema_name": "sales"}), 200)
c.eq(
    "tables of sales listed",
    sorted((t["value"], t["type"]) for t in tables["result"]),
    [("customer", "table"), ("lineitem", "table"), ("orders", "table")],
)

# What the columns are, from the baseline copy's Parquet schema (not from meshgate).
baseline = ds.dataset(os.path.join(p["baseline_dir"], "orders"), format="parquet")


def pg_type(t):
    import pyarrow as pa

    if pa.types.is_int64(t):
        return "BIGINT"
    if pa.types.is_int32(t):
        return "INTEGER"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "TEXT"
    if pa.types.is_decimal(t):
        return f"NUMERIC({t.precision}, {t.scale})"
    if pa.types.is_date32(t):
        return "DATE"
    raise AssertionError(f"no PostgreSQL type for {t}")


want_columns = [(f.name, pg_type(f.type)) for f in baseline.schema]
meta = call("get", f"/api/v1/database/{db_id}/table_metadata/?name=orders&schema=sales", 200)
c.eq("table metadata: columns and types", [(col["name"], col["longType"]) for col in meta["columns"]], want_columns)
descriptions = p["descriptions"]
c.eq("table metadata: table comment", meta["comment"], descriptions["orders"])
c.eq(
    "table metadata: column comments",
    {col["name"]: col["comment"] for col in meta["columns"] if col["name"] in descriptions},
    {k: v for k, v in descriptions.items() if k != "orders"},
)
# Data products declare no keys: the metadata shows none (Superset turns SQLAlchemy's empty
# primary key column list into None, as for a PostgreSQL table without one), and SQLAlchemy's
# index reflection (`a.attnum = ANY(ix.indkey)`) answers with no index rather than an error.
c.eq(
    "table metadata: no keys or indexes",
    (meta["primaryKey"], meta["foreignKeys"], meta["indexes"]),
    ({"constrained_columns": None, "name": None}, [], []),
)

# ADD DATASET: Superset reflects the table (SQLAlchemy's Table autoload, indexes included).
ds_id = call("post", "/api/v1/dataset/", 201, json={"database": db_id, "schema": "sales", "table_name": "orders"})["id"]
dataset = call("get", f"/api/v1/dataset/{ds_id}", 200)["result"]
c.eq(
    "dataset columns and types",
    sorted((col["column_name"], col["type"]) for col in dataset["columns"]),
    sorted(want_columns),
)
c.eq("dataset temporal columns", [col["column_name"] for col in dataset["columns"] if col["is_dttm"]], ["o_orderdate"])
c.eq("dataset main temporal column", dataset["main_dttm_col"], "o_orderdate")

# The answers, from the baseline Parquet files.
start, end = datetime.date(1995, 1, 1), datetime.date(1996, 1, 1)
in_range = baseline.to_table(
    columns=["o_orderdate"], filter=(ds.field("o_orderdate") >= start) & (ds.field("o_orderdate") < end)
)
want_count = in_range.num_rows
c.true("the baseline has orders in 1995", want_count > 0)
months = pc.strftime(pc.cast(in_range["o_orderdate"], "timestamp[s]"), format="%Y-%m").to_pylist()
want_monthly = {m: months.count(m) for m in sorted(set(months))}
c.eq("the baseline has orders in every month of 1995", len(want_monthly), 12)

time_range = {"col": "o_orderdate", "op": "TEMPORAL_RANGE", "val": f"{start} : {end}"}


def chart(query, result_type):
    body = {
        "datasource": {"id": ds_id, "type": "table"},
        "force": True,
        "queries": [query],
        "result_format": "json",
        "result_type": result_type,
    }
    return call("post", "/api/v1/chart/data", 200, json=body)["result"][0]


# A Big Number chart: COUNT(*) over the time range.
big_number = {"metrics": ["count"], "filters": [time_range], "row_limit": 10}
sql = chart(big_number, "query")["query"]
c.true("Superset's SQL bounds the range with TO_DATE", "TO_DATE('1995-01-01', 'YYYY-MM-DD')" in sql, sql)
got = chart(big_number, "full")
c.eq("count of orders in 1995", got["data"], [{"count": want_count}])

# A time-series chart: orders per month of 1995 (DATE_TRUNC on the time grain).
axis = {
    "timeGrain": "P1M",
    "columnType": "BASE_AXIS",
    "sqlExpression": "o_orderdate",
    "label": "o_orderdate",
    "expressionType": "SQL",
}
series = {**big_number, "columns": [axis], "orderby": [[axis, True]], "row_limit": 100}
sql = chart(series, "query")["query"]
c.true("Superset's SQL truncates to the month", "DATE_TRUNC('month', o_orderdate)" in sql, sql)
got = chart(series, "full")["data"]
got_monthly = {
    datetime.datetime.fromtimestamp(row["o_orderdate"] / 1000, datetime.timezone.utc).strftime("%Y-%m"): row["count"]
    for row in got
}
c.eq("orders per month of 1995", got_monthly, want_monthly)

# A pie chart: revenue (SUM of a NUMERIC(15, 2)) and orders by status over the same range.
in_range = baseline.to_table(
    columns=["o_orderstatus", "o_totalprice"],
    filter=(ds.field("o_orderdate") >= start) & (ds.field("o_orderdate") < end),
)
by_status = in_range.group_by("o_orderstatus").aggregate([("o_totalprice", "sum"), ("o_totalprice", "count")])
want_pie = sorted(
    (row["o_orderstatus"], float(row["o_totalprice_sum"]), row["o_totalprice_count"])
    for row in by_status.to_pylist()
)
revenue = {"expressionType": "SIMPLE", "column": {"column_name": "o_totalprice"}, "aggregate": "SUM", "label": "revenue"}
pie = {
    "metrics": [revenue, "count"],
    "columns": ["o_orderstatus"],
    "filters": [time_range],
    "orderby": [["revenue", False]],
    "row_limit": 100,
}
got = chart(pie, "full")["data"]
c.eq("revenue and orders by status in 1995", sorted((r["o_orderstatus"], r["revenue"], r["count"]) for r in got), want_pie)
c.eq("pie slices ordered by revenue", [r["revenue"] for r in got], sorted((r["revenue"] for r in got), reverse=True))

# SQL Lab: a query typed by hand, bounded with TO_TIMESTAMP as Superset bounds timestamps.
sql = (
    "SELECT o_orderstatus, count(*) AS n FROM sales.orders "
    "WHERE o_orderdate >= TO_DATE('1995-01-01', 'YYYY-MM-DD') "
    "AND o_orderdate < TO_TIMESTAMP('1996-01-01 00:00:00.000000', 'YYYY-MM-DD HH24:MI:SS.US') "
    "GROUP BY o_orderstatus ORDER BY o_orderstatus"
)
got = call(
    "post",
    "/api/v1/sqllab/execute/",
    200,
    json={"database_id": db_id, "sql": sql, "schema": "sales", "runAsync": False, "client_id": "meshgate1"},
)
c.eq("SQL Lab query ran", got["status"], "success")
c.eq(
    "SQL Lab: orders by status in 1995",
    [(r["o_orderstatus"], r["n"]) for r in got["data"]],
    [(status, n) for status, _, n in want_pie],
)
c.done()
