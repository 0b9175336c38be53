"""Shared by the client suites: connection parameters from argv and checks that fail loudly."""
import json
import sys


def params():
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} '<connection parameters as JSON>'")
    return json.loads(sys.argv[1])


class Checks:
    """Counts checks and stops at the first mismatch with what was expected and what came back."""

    def __init__(self, suite):
        self.suite = suite
        self.n = 0

    def eq(self, what, got, want):
        self.n += 1
        if got != want:
            sys.exit(f"{self.suite}: {what}: expected {want!r}, got {got!r}")
        print(f"ok {self.n} - {what}")

    def true(self, what, cond, detail=""):
        self.n += 1
        if not cond:
            sys.exit(f"{self.suite}: {what}: check failed {detail}")
        print(f"ok {self.n} - {what}")

    def done(self):
        print(f"{self.suite}: {self.n} checks passed")
