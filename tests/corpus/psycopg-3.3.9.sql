-- psycopg 3.3.9: a server-side cursor (sent with the extended protocol), as meshgate received them (extract.py over a statements log of
-- tests/clients/psycopg_suite.py). Replayed in order on one connection as user bob by
-- tests/it/corpus.rs.
BEGIN
-- next
DECLARE "lines" CURSOR FOR SELECT l_orderkey FROM sales.lineitem
-- next
FETCH FORWARD 5000 FROM "lines"
-- next
CLOSE "lines"
-- next
COMMIT
