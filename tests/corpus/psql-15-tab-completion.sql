-- psql 15 (Debian's postgresql-client 15): the catalog queries its tab completion sends (readline, in a
-- terminal), as meshgate received them (extract.py over a statements log of tests/it/psql_completion.rs,
-- each distinct statement once): relations and schemas after FROM (`sal<Tab>`, `sales.<Tab><Tab>`),
-- columns after WHERE, `\d`, `\dn`, `\c` and `\df` arguments. Replayed in order on one connection as
-- user bob by tests/it/corpus.rs.
SELECT c.relname, NULL::pg_catalog.text FROM pg_catalog.pg_class c WHERE c.relkind IN ('r', 'S', 'v', 'm', 'f', 'p') AND (c.relname) LIKE 'sal%' AND pg_catalog.pg_table_is_visible(c.oid) AND c.relnamespace <> (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'pg_catalog')
UNION ALL
SELECT NULL::pg_catalog.text, n.nspname FROM pg_catalog.pg_namespace n WHERE n.nspname LIKE 'sal%' AND n.nspname NOT LIKE E'pg\\_%'
LIMIT 1000
-- next
SELECT c.relname, n.nspname FROM pg_catalog.pg_class c, pg_catalog.pg_namespace n WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'S', 'v', 'm', 'f', 'p') AND (c.relname) LIKE '%' AND n.nspname = 'sales'
LIMIT 1000
-- next
SELECT c.relname, NULL::pg_catalog.text FROM pg_catalog.pg_class c WHERE c.relkind IN ('r', 'S', 'v', 'm', 'f', 'p') AND (c.relname) LIKE 'sup%' AND pg_catalog.pg_table_is_visible(c.oid) AND c.relnamespace <> (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'pg_catalog')
UNION ALL
SELECT NULL::pg_catalog.text, n.nspname FROM pg_catalog.pg_namespace n WHERE n.nspname LIKE 'sup%' AND n.nspname NOT LIKE E'pg\\_%'
LIMIT 1000
-- next
SELECT a.attname, NULL::pg_catalog.text FROM pg_catalog.pg_attribute a, pg_catalog.pg_class c, pg_catalog.pg_namespace nr WHERE c.oid = a.attrelid and a.attnum > 0 and not a.attisdropped AND (a.attname) LIKE 'o\_%' AND c.relname = 'orders' AND c.relnamespace = nr.oid AND nr.nspname = 'sales'
LIMIT 1000
-- next
SELECT c.relname, n.nspname FROM pg_catalog.pg_class c, pg_catalog.pg_namespace n WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'S', 'v', 'm', 'f', 'p') AND (c.relname) LIKE '%' AND n.nspname = 'supply'
LIMIT 1000
-- next
SELECT a.attname, NULL::pg_catalog.text FROM pg_catalog.pg_attribute a, pg_catalog.pg_class c, pg_catalog.pg_namespace nr WHERE c.oid = a.attrelid and a.attnum > 0 and not a.attisdropped AND (a.attname) LIKE 'n\_nam%' AND c.relname = 'nation' AND c.relnamespace = nr.oid AND nr.nspname = 'geo'
LIMIT 1000
-- next
SELECT c.relname, n.nspname FROM pg_catalog.pg_class c, pg_catalog.pg_namespace n WHERE c.relnamespace = n.oid AND (c.relname) LIKE 'p%' AND n.nspname = 'supply'
LIMIT 1000
-- next
SELECT c.relname, n.nspname FROM pg_catalog.pg_class c, pg_catalog.pg_namespace n WHERE c.relnamespace = n.oid AND (c.relname) LIKE 'n%' AND n.nspname = 'geo'
LIMIT 1000
-- next
SELECT nspname FROM pg_catalog.pg_namespace  WHERE nspname LIKE 'ge%'
LIMIT 1000
-- next
SELECT datname FROM pg_catalog.pg_database  WHERE datname LIKE 'm%'
LIMIT 1000
-- next
SELECT p.proname, n.nspname FROM pg_catalog.pg_proc p, pg_catalog.pg_namespace n WHERE p.pronamespace = n.oid AND p.prokind != 'p' AND (p.proname) LIKE 'format\_t%' AND n.nspname = 'pg_catalog'
LIMIT 1000
