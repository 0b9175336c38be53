-- asyncpg 0.32.0: transaction statements and the jit save before type introspection (extended protocol), as meshgate received them (extract.py over a statements log of
-- tests/clients/asyncpg_suite.py). Replayed in order on one connection as user bob by
-- tests/it/corpus.rs.
BEGIN;
-- next
SELECT
                        current_setting('jit') AS cur,
                        set_config('jit', 'off', false) AS new
-- next
COMMIT;
