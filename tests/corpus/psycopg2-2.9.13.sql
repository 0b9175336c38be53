-- psycopg2 2.9.13: named cursors, set_session, session statements, Tableau-style temporary tables, as meshgate received them (extract.py over a statements log of
-- tests/clients/psycopg2_suite.py). Replayed in order on one connection as user bob by
-- tests/it/corpus.rs.
BEGIN
-- next
DECLARE "big_scan" CURSOR WITHOUT HOLD FOR SELECT l_orderkey, l_extendedprice FROM sales.lineitem
-- next
FETCH FORWARD 2000 FROM "big_scan"
-- next
FETCH FORWARD 2000 FROM "big_scan"
-- next
CLOSE "big_scan"
-- next
COMMIT
-- next
BEGIN
-- next
DECLARE "pages" CURSOR WITHOUT HOLD FOR SELECT o_orderkey FROM sales.orders ORDER BY o_orderkey
-- next
FETCH FORWARD 100 FROM "pages"
-- next
MOVE 10 FROM "pages"
-- next
FETCH FORWARD 1 FROM "pages"
-- next
CLOSE "pages"
-- next
COMMIT
-- next
BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY
-- next
SHOW TRANSACTION ISOLATION LEVEL
-- next
ROLLBACK
-- next
SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ
-- next
SHOW TRANSACTION ISOLATION LEVEL
-- next
BEGIN READ ONLY ISOLATION LEVEL SERIALIZABLE
-- next
SHOW TRANSACTION ISOLATION LEVEL
-- next
COMMIT
-- next
SET ROLE bob
-- next
RESET ROLE
-- next
SELECT pg_backend_pid()
-- next
CREATE LOCAL TEMPORARY TABLE "#Tableau_1_filter" ("COL" INTEGER, "NAME" TEXT) ON COMMIT PRESERVE ROWS
-- next
INSERT INTO "#Tableau_1_filter" ("COL", "NAME") VALUES (1, 'one'), (3, 'three')
-- next
SELECT n.n_name FROM geo.nation n JOIN "#Tableau_1_filter" f ON n.n_nationkey = f."COL" ORDER BY 1
-- next
DROP TABLE "#Tableau_1_filter"
