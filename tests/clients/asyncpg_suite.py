"""asyncpg against meshgate: prepared statements, binary codecs (int8, numeric, date, timestamp,
text), and its type introspection, which it runs for types outside its built-in set."""
import asyncio
import datetime
import decimal

import asyncpg

from common import Checks, params

p = params()
c = Checks("asyncpg")


async def main():
    conn = await asyncpg.connect(host=p["host"], port=p["port"], user=p["user"], password=p["password"],
                                 database=p["dbname"])
    try:
        # Every asyncpg query is a prepared statement with binary results.
        row = await conn.fetchrow(
            "SELECT o_orderkey, o_totalprice, o_orderdate, CAST(o_orderdate AS timestamp) AS ts, o_orderstatus "
            "FROM sales.orders WHERE o_orderkey = $1", 1)
        text = await conn.fetchrow(
            "SELECT CAST(o_orderkey AS text), CAST(o_totalprice AS text), CAST(o_orderdate AS text) "
            "FROM sales.orders WHERE o_orderkey = 1")
        c.eq("int8 decodes", row["o_orderkey"], 1)
        c.eq("numeric decodes", row["o_totalprice"], decimal.Decimal(text[1]))
        c.eq("date decodes", row["o_orderdate"], datetime.date.fromisoformat(text[2]))
        c.eq("timestamp decodes", row["ts"], datetime.datetime.combine(row["o_orderdate"], datetime.time()))
        c.true("text decodes", row["o_orderstatus"] in ("F", "O", "P"), repr(row["o_orderstatus"]))

        # Binary parameters of each type.
        v = await conn.fetchrow("SELECT $1::int8 + 1 AS a, $2::numeric(10,2) * 2 AS b, $3::date AS c, "
                                "$4::timestamp AS d, upper($5::text) AS e",
                                41, decimal.Decimal("1.25"), datetime.date(2020, 2, 29),
                                datetime.datetime(2021, 5, 6, 7, 8, 9, 123456), "mesh")
        c.eq("binary parameters round-trip", tuple(v),
             (42, decimal.Decimal("2.50"), datetime.date(2020, 2, 29), datetime.datetime(2021, 5, 6, 7, 8, 9, 123456), "MESH"))

        # An explicitly prepared statement, executed with several arguments.
        stmt = await conn.prepare("SELECT n_name FROM geo.nation WHERE n_regionkey = $1 ORDER BY n_name")
        column = (await conn.prepare("SELECT n_regionkey FROM geo.nation")).get_attributes()[0].type.name
        c.eq("parameter type inferred from the column it is compared with", [t.name for t in stmt.get_parameters()], [column])
        c.eq("prepared statement columns", [a.name for a in stmt.get_attributes()], ["n_name"])
        africa = [r[0] for r in await stmt.fetch(0)]
        europe = [r[0] for r in await stmt.fetch(3)]
        c.eq("prepared statement, first execution", africa, ["ALGERIA", "ETHIOPIA", "KENYA", "MOROCCO", "MOZAMBIQUE"])
        c.eq("prepared statement, second execution", europe, ["FRANCE", "GERMANY", "ROMANIA", "RUSSIA", "UNITED KINGDOM"])

        # A cursor (portal with a row limit) inside a transaction.
        async with conn.transaction():
            n = 0
            async for _ in conn.cursor("SELECT l_orderkey FROM sales.lineitem", prefetch=1000):
                n += 1
        total = await conn.fetchval("SELECT count(*) FROM sales.lineitem")
        c.eq("cursor yields every row", n, total)

        # A type outside asyncpg's built-in codecs (arrays) makes asyncpg run its recursive
        # type-introspection query first; then the array decodes.
        row = await conn.fetchrow("SELECT o_orderkey, o_custkey FROM sales.orders WHERE o_orderkey = $1", 1)
        c.eq("int8[] result (after type introspection)",
             await conn.fetchval("SELECT ARRAY[o_orderkey, o_custkey] FROM sales.orders WHERE o_orderkey = $1", 1),
             [row["o_orderkey"], row["o_custkey"]])
        c.eq("text[] result",
             await conn.fetchval("SELECT array_agg(r_name ORDER BY r_regionkey) FROM geo.region"),
             ["AFRICA", "AMERICA", "ASIA", "EUROPE", "MIDDLE EAST"])
        c.eq("arrays turned into text still work",
             await conn.fetchval("SELECT array_to_string(array_agg(r_name ORDER BY r_regionkey), ',') FROM geo.region"),
             "AFRICA,AMERICA,ASIA,EUROPE,MIDDLE EAST")

        try:
            await conn.fetch("SELECT * FROM sales.nope")
            c.true("unknown table fails", False)
        except asyncpg.exceptions.UndefinedTableError as e:
            c.eq("unknown table: sqlstate", e.sqlstate, "42P01")
    finally:
        await conn.close()


asyncio.run(main())
c.done()
