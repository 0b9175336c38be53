"""pgcli 4.7's completion engine against meshgate: its own catalog queries (through its own
executor, psycopg 3) load schemas, tables, columns, functions and types, and its completer then
suggests them as it would at the prompt; `\\dt` runs pgspecial's listing query."""
from pgcli import completion_refresher
from pgcli.pgcompleter import PGCompleter
from pgcli.pgexecute import PGExecute
from pgspecial.main import PGSpecial
from prompt_toolkit.document import Document

from common import Checks, params

p = params()
c = Checks("pgcli")
executor = PGExecute(p["dbname"], p["user"], p["password"], p["host"], p["port"])
completer = PGCompleter(smart_completion=True)

# Every refresher pgcli runs on connect, as its background refresh does, one after another.
for name, refresh in completion_refresher.CompletionRefresher.refreshers.items():
    if name == "casing":
        continue
    refresh(completer, executor)
    c.true(f"refresher {name} ran", True)


def suggested(text):
    doc = Document(text, cursor_position=len(text))
    return {s.text for s in completer.get_completions(doc, None)}


c.true("schemas suggested", {"sales", "geo", "supply"} <= suggested("SELECT * FROM "), repr(suggested("SELECT * FROM ")))
c.eq("tables of sales suggested", {"customer", "lineitem", "orders"} <= suggested("SELECT * FROM sales."), True)
on_orders = suggested("SELECT * FROM sales.orders WHERE o_")
c.true("columns of sales.orders suggested", {"o_orderkey", "o_totalprice"} <= on_orders, repr(sorted(on_orders)[:20]))
funcs = completer.dbmetadata["functions"].get("pg_catalog", {})
c.true("functions loaded from pg_proc", {"to_char", "generate_series", "jsonb_build_object"} <= {f.strip('"') for f in funcs}, repr(sorted(funcs)[:20]))
c.true("function suggested", "TO_CHAR" in {f.upper() for f in suggested("SELECT to_c")})
types = suggested("SELECT 1::")
c.true("types suggested", {"INTEGER", "TEXT"} <= {t.upper() for t in types}, repr(sorted(types)[:20]))

# pgspecial's \dt, as typed at pgcli's prompt.
title, rows, headers, status = next(iter(executor.run("\\dt sales.*", pgspecial=PGSpecial())))[:4]
names = sorted(r[1] for r in rows)
c.eq("\\dt sales.* lists the tables", names, ["customer", "lineitem", "orders"])
c.done()
