-- Tableau's PostgreSQL connection (Tableau Desktop/Server 2020.4 and later through the PostgreSQL ODBC
-- driver). Tableau is closed source, so this corpus is approximate. Its parts: (1) what the connector
-- SDK's sample says about the connection, github.com/tableau/connector-plugin-sdk at commit cdf746b
-- (August 2025), samples/plugins/postgres_odbc/: connectionBuilder.js (psqlODBC with
-- UseDeclareFetch=1 and Fetch=2048, so result sets are read through a cursor 2048 rows at a time),
-- manifest.xml (CAP_QUERY_WHERE_FALSE_METADATA: a table's columns are read by a query that returns no
-- rows) and dialect.tdd (FALSE as the false predicate, double-quoted identifiers, LIMIT for top);
-- (2) the statements psqlODBC sends for that connection, from github.com/postgresql-interfaces/psqlodbc
-- at tag REL-16_00_0000: connection.c (CC_connect's session setup, the large-object type lookup,
-- max_identifier_length), info.c (PGAPI_Tables without a schema, PGAPI_Columns for one table as a
-- server >= 12 gets it, PGAPI_PrimaryKeys), convert.c and qresult.c (`declare "SQL_CUR<address>"
-- cursor for …`, `fetch 2048 in …`, `close …;commit`); (3) the table list wrapped in that cursor and
-- `select NULL, NULL, NULL` as other PostgreSQL-protocol servers' tests record Tableau sending them;
-- (4) the WHERE FALSE metadata query and a first aggregate in Tableau's usual shape (table alias,
-- `sum:<field>:ok`), written from the dialect, not copied from a capture. Names filled in for the
-- test mesh: sales.orders. Replayed in order by tests/it/corpus.rs; answers checked by
-- tests/it/bi_catalogs.rs.
SET DateStyle = 'ISO';SET extra_float_digits = 2;show transaction_isolation
-- next
select oid, typbasetype from pg_type where typname = 'lo'
-- next
show max_identifier_length
-- next
select NULL, NULL, NULL
-- next
BEGIN;declare "SQL_CUR0x55d0c8a4e2b0" cursor for select relname, nspname, relkind from pg_catalog.pg_class c, pg_catalog.pg_namespace n where relkind in ('r', 'v', 'm', 'f', 'p') and nspname not in ('pg_catalog', 'information_schema', 'pg_toast', 'pg_temp_1') and n.oid = relnamespace order by nspname, relname;fetch 2048 in "SQL_CUR0x55d0c8a4e2b0"
-- next
close "SQL_CUR0x55d0c8a4e2b0";commit
-- next
select n.nspname, c.relname, a.attname, a.atttypid, t.typname, a.attnum, a.attlen, a.atttypmod, a.attnotnull, c.relhasrules, c.relkind, c.oid, pg_get_expr(d.adbin, d.adrelid), case t.typtype when 'd' then t.typbasetype else 0 end, t.typtypmod, 0, attidentity, c.relhassubclass from (((pg_catalog.pg_class c inner join pg_catalog.pg_namespace n on n.oid = c.relnamespace and c.relname like E'orders' and n.nspname like E'sales') inner join pg_catalog.pg_attribute a on (not a.attisdropped) and a.attnum > 0 and a.attrelid = c.oid) inner join pg_catalog.pg_type t on t.oid = a.atttypid) left outer join pg_attrdef d on a.atthasdef and d.adrelid = a.attrelid and d.adnum = a.attnum order by n.nspname, c.relname, attnum
-- next
select ta.attname, ia.attnum, ic.relname, n.nspname, tc.relname from pg_catalog.pg_attribute ta, pg_catalog.pg_attribute ia, pg_catalog.pg_class tc, pg_catalog.pg_index i, pg_catalog.pg_namespace n, pg_catalog.pg_class ic where tc.relname = E'orders' AND n.nspname = E'sales' AND tc.oid = i.indrelid AND n.oid = tc.relnamespace AND i.indisprimary = 't' AND ia.attrelid = i.indexrelid AND ta.attrelid = i.indrelid AND ta.attnum = i.indkey[ia.attnum-1] AND (NOT ta.attisdropped) AND (NOT ia.attisdropped) AND ic.oid = i.indexrelid order by ia.attnum
-- next
BEGIN;declare "SQL_CUR0x55d0c8a51f40" cursor for SELECT * FROM "sales"."orders" "orders" WHERE FALSE;fetch 2048 in "SQL_CUR0x55d0c8a51f40"
-- next
close "SQL_CUR0x55d0c8a51f40";commit
-- next
BEGIN;declare "SQL_CUR0x55d0c8a51f40" cursor for SELECT "orders"."o_orderstatus" AS "o_orderstatus", SUM("orders"."o_totalprice") AS "sum:o_totalprice:ok" FROM "sales"."orders" "orders" GROUP BY 1;fetch 2048 in "SQL_CUR0x55d0c8a51f40"
-- next
close "SQL_CUR0x55d0c8a51f40";commit
