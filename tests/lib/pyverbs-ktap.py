#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""Run one module of rdma-core's pyverbs tests and report it as KTAP.

    pyverbs-ktap.py TESTS_DIR MODULE [--dev DEV] [--gid N] ...

TESTS_DIR is rdma-core's tests/ (the source's, matching the installed
pyverbs), MODULE one of its test_*.py without the suffix; the rest are the
options of rdma-core's run_tests.py. Each test case prints one line, as
kselftest's harness does, so that scripts/report.py reports each case,
and a skip with its reason (an unexpected one fails there).
"""
import os
import sys
import unittest
from importlib.machinery import SourceFileLoader


class KtapResult(unittest.TestResult):
    """Prints "ok N name", "ok N name # SKIP why" or "not ok N name"."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def _line(self, test, ok, directive=""):
        self.n += 1
        name = test.id().rsplit(".", 1)[-1]
        print(f"{'ok' if ok else 'not ok'} {self.n} {name}{directive}",
              flush=True)

    def addSuccess(self, test):
        super().addSuccess(test)
        self._line(test, True)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        why = " ".join(str(reason).split())
        self._line(test, True, f" # SKIP {why}")

    def _failed(self, test, err):
        self._line(test, False)
        for line in self._exc_info_to_string(err, test).splitlines():
            print(f"# {line}")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._failed(test, err)

    def addError(self, test, err):
        super().addError(test, err)
        self._failed(test, err)


def main():
    tests_dir, module = sys.argv[1], sys.argv[2]
    sys.path.insert(0, tests_dir)
    sys.argv[1:] = sys.argv[3:]
    from args_parser import parser
    parser.parse_args()
    SourceFileLoader("tests", os.path.join(tests_dir, "__init__.py")).load_module()
    suite = unittest.defaultTestLoader.loadTestsFromName(f"tests.{module}")
    print("TAP version 13")
    print(f"1..{suite.countTestCases()}", flush=True)
    result = KtapResult()
    suite.run(result)
    print(f"# {len(result.failures)} failed, {len(result.errors)} errors, "
          f"{len(result.skipped)} skipped of {result.testsRun}")
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
