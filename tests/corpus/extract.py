"""Extracts the statements a client sent from a meshgate log written with
MESHGATE_LOG=meshgate::statements=debug (or MESHGATE_TEST_LOG for the test server), one corpus
entry per statement, in the order received: `python3 extract.py server.log > tool-version.sql`,
then keep the catalog and session statements the tool sends by itself."""
import re
import sys

ANSI = re.compile(r"\x1b\[[0-9;]*m")
START = re.compile(r"^\S+Z\s+DEBUG .*?meshgate::statements: ")
END = re.compile(r'\s*protocol="(simple|extended)"\s*$')

text = ANSI.sub("", open(sys.argv[1], encoding="utf-8").read())
entries, cur = [], None
for line in text.splitlines():
    m = START.match(line)
    if m:
        if cur is not None:
            entries.append(cur)
        cur = line[m.end():]
    elif re.match(r"^\S+Z\s+(INFO|WARN|ERROR|DEBUG)", line):
        if cur is not None:
            entries.append(cur)
        cur = None
    elif cur is not None:
        cur += "\n" + line
if cur is not None:
    entries.append(cur)
out = []
for e in entries:
    e = END.sub("", e).strip()
    if e:
        out.append(e)
print("\n-- next\n".join(out))
