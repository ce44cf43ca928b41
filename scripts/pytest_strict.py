"""Run pytest, but fail when it collected no test (exit 5 must never pass silently)."""

from __future__ import annotations

import sys

import pytest

if __name__ == "__main__":
    code = pytest.main(sys.argv[1:])
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        print("pytest_strict: no tests were collected -- treating as a failure", file=sys.stderr)
        raise SystemExit(1)
    raise SystemExit(int(code))
