#!/usr/bin/env python3
"""Writes the seed corpus of each fuzz target into fuzz/corpus/<target>/ (files named by
content hash, so running it twice changes nothing). Seeds are what real clients send:
startup packets, protocol messages, SCRAM messages, and a sample of the differential suite's
statements. Run it from anywhere; libFuzzer grows the corpus from these in CI's scratch copy."""

import hashlib
import pathlib
import struct

FUZZ = pathlib.Path(__file__).resolve().parent
ROOT = FUZZ.parent


def write(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = FUZZ / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


def cstr(s):
    return s.encode() + b"\0"


# --- startup: the first packet's body (after its length), as parse_first_packet reads it ------
def startup(params, version=196608):
    body = struct.pack("!i", version)
    for k, v in params:
        body += cstr(k) + cstr(v)
    return body + b"\0"


write("startup", startup([("user", "alice"), ("database", "mesh")]))
write("startup", startup([("user", "alice"), ("database", "mesh"), ("application_name", "psql"),
                          ("client_encoding", "UTF8")]))
write("startup", startup([("user", "bob"), ("options", "-c search_path=sales,public -c statement_timeout=5s")]))
write("startup", startup([("user", "bob"), ("options", "--search_path=a\\ b -csearch_path=x")]))
write("startup", startup([("user", "carol"), ("replication", "database")], version=196610))  # protocol 3.2
write("startup", struct.pack("!i", 80877103))  # SSLRequest
write("startup", struct.pack("!i", 80877104))  # GSSENCRequest
write("startup", struct.pack("!iii", 80877102, 4242, 0x5EC12E7))  # CancelRequest, 3.0 key
write("startup", struct.pack("!ii", 80877102, 4242) + bytes(range(32)))  # 3.2 key


# --- frames: a step byte (piece size), then messages as a client sends them after startup ----
def msg(tag, body):
    return tag + struct.pack("!i", len(body) + 4) + body


query = msg(b"Q", cstr("SELECT 1"))
extended = (
    msg(b"P", cstr("s1") + cstr("SELECT $1::int") + struct.pack("!hi", 1, 23))
    + msg(b"B", cstr("p1") + cstr("s1") + struct.pack("!hh", 1, 0) + struct.pack("!hi", 1, 1) + b"7"
          + struct.pack("!hh", 1, 1))
    + msg(b"D", b"P" + cstr("p1"))
    + msg(b"E", cstr("p1") + struct.pack("!i", 0))
    + msg(b"C", b"S" + cstr("s1"))
    + msg(b"H", b"")
    + msg(b"S", b"")
)
copy = msg(b"d", b"1\talice\n2\tbob\n") + msg(b"c", b"") + msg(b"f", cstr("no"))
sasl = msg(b"p", cstr("SCRAM-SHA-256") + struct.pack("!i", 32) + b"n,,n=,r=rOprNGfwEbeRWgbNEkqO")
for step in (255, 1, 3):
    for stream in (query, extended, copy, sasl + msg(b"X", b""), query + msg(b"X", b"")):
        write("frames", bytes([step]) + stream)

# --- scram: client-first, a NUL, client-final --------------------------------------------------
nonce = "rOprNGfwEbeRWgbNEkqO"
for first, final in [
    (f"n,,n=,r={nonce}", f"c=biws,r={nonce}%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="),
    (f"n,,n=alice,r={nonce}", f"c=biws,r={nonce},p=AAAA"),
    (f"y,,n=,r={nonce}", f"c=eSws,r={nonce},p=AAAA"),
    (f"p=tls-server-end-point,,n=,r={nonce}", f"c=cD10bHMtc2VydmVyLWVuZC1wb2ludCwsAAAA,r={nonce},p=AAAA"),
    (f"n,a=alice,n=,r={nonce},ext=1", f"c=biws,r={nonce},x=1,p="),
]:
    write("scram", f"{first}\0{final}")

# --- sql: a sample of the differential suite, and shapes of the respelling and the rewrites ----
statements = []
for path in sorted((ROOT / "tests/corpus/differential").glob("*.sql")):
    cur = []
    for line in path.read_text().splitlines():
        if not cur and (not line.strip() or line.lstrip().startswith("--")):
            continue
        cur.append(line)
        if line.rstrip().endswith(";"):
            statements.append("\n".join(cur))
            cur = []
for s in statements[::5]:
    write("sql", s)
for s in [
    "SELECT c.oid, c.relname FROM pg_catalog.pg_class c WHERE c.oid = 'sales.orders'::regclass",
    "SELECT 'nope'::regclass",
    "SELECT 'public'::regnamespace, 'int4'::regtype::oid, 1::pg_catalog.oid",
    "SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid = 't'::regclass AND a.attnum > 0 ORDER BY a.attnum",
    "SELECT x FROM t WHERE x OPERATOR(pg_catalog.~) '^a' COLLATE pg_catalog.default",
    "SELECT current_setting('search_path'), set_config('jit', 'off', false)",
    "SELECT x FROM t EXCEPT ALL SELECT y FROM u INTERSECT ALL SELECT z FROM v",
    "SELECT generate_series(1, 3), unnest(ARRAY[1,2])",
    "SELECT 1 = ANY (SELECT x FROM t), 2 > ALL ('{1,2}'::int[])",
    "SELECT (SELECT n FROM t WHERE t.k = o.k) FROM orders o",
    "SELECT 'abc'::varchar(2), 'a' SIMILAR TO 'a%' ESCAPE '#', 'x' LIKE 'x!%' ESCAPE '!'",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r",
    "COMMENT ON VIEW v IS $doc$dbt's docs$doc$",
    "ALTER VIEW v RENAME TO w",
    "BEGIN; DECLARE c CURSOR FOR SELECT 1; MOVE 1 IN c; FETCH 1 FROM c; COMMIT",
    "DELETE FROM t WHERE x > 1",
    "UPDATE t SET x = x + 1 WHERE y IS NOT NULL",
    "MERGE INTO t USING u ON t.k = u.k WHEN MATCHED THEN UPDATE SET x = u.x WHEN NOT MATCHED THEN INSERT VALUES (u.k, u.x)",
    "SELECT " + "(" * 40 + "1" + ")" * 40,
    "SELECT * FROM " + "(SELECT * FROM " * 20 + "t" + ") s" * 20,
]:
    write("sql", s)
