#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Turn one guest run into one line per test, and runs into a summary.

  report.py run NAME DIR VM_RC   print NAME/... lines for the run kept in DIR
                                 (console.log, results, logs/, hmm-tests.tap,
                                 kmemleak.txt) and write DIR/counts
  report.py plain NAME DIR       print NAME/... lines from DIR/results alone
                                 (tests run on the host) and write DIR/counts
  report.py total DIR...         print "N passed, N failed[, N skipped]" over
                                 the runs' counts; exit 1 on any failure

Every test is reported as PASS, FAIL (with the reason) or SKIP (with the
reason). Tests listed in tests/known-failures are reported, when they fail,
as SKIP with the listed reason: they fail on the unmodified base kernel too.
A test that skips by itself (a guest test's exit 77, a KTAP "# SKIP") is
reported as SKIP only when tests/expected-skips lists it, and as
"FAIL <name>: unexpected skip: <reason>" otherwise: a skip proves nothing.

A guest test whose log holds a kselftest TAP stream (our programs on
kselftest_harness.h) is reported case by case, as <test>/<case>, and so is
hmm-tests from hmm-tests.tap, as hmm-tests/<case>; each plan is checked.

A guest run must also account for itself: the results file starts with the
suite's plan, every test it runs reports a line, and a
non-zero VM_RC is either the suite's own status for a failed test (1) or
vm.sh's for a splat (126); anything else fails vm/boot.
"""

import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A printk line on the console: "[   12.345678] message". Userspace output
# shares the console, so only text behind a timestamp is the kernel's.
PRINTK = re.compile(r"\[ *\d+\.\d+\] (.*)$")
TAP_RESULT = re.compile(r"^(ok|not ok) (\d+) ([^#]*?)\s*(?:#\s*(SKIP|TODO)\b\s*(.*))?$")
TAP_PLAN = re.compile(r"^1\.\.(\d+)")


class Results:
    def __init__(self, prefix):
        self.prefix = prefix
        self.known = load_list("known-failures")
        self.expected = load_list("expected-skips")
        self.counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}

    def add(self, verdict, name, reason=""):
        if verdict == "FAIL" and name in self.known:
            verdict, reason = "SKIP", "known failure: " + self.known[name]
        elif verdict == "SKIP" and name not in self.expected:
            verdict, reason = "FAIL", "unexpected skip: " + (reason or "no reason given")
        self.counts[verdict] += 1
        line = f"{verdict} {self.prefix}/{name}"
        if reason:
            line += (": " if verdict == "FAIL" else " (") + reason
            line += "" if verdict == "FAIL" else ")"
        print(line, flush=True)


def load_list(name):
    """tests/<name>: "<test> <reason>" a line, # comments; test -> reason."""
    entries = {}
    path = os.path.join(REPO, "tests", name)
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.split("#", 1)[0].strip()
                if line:
                    test, _, reason = line.partition(" ")
                    entries[test] = reason.strip() or "no reason given"
    return entries


def executables(sub):
    d = os.path.join(REPO, "tests", sub)
    names = []
    for n in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        p = os.path.join(d, n)
        if os.path.isfile(p) and os.stat(p).st_mode & 0o111:
            names.append(n)
    return names


def guest_tests(run):
    """The tests that must report: what tests/guest-suite runs, in guest A
    of the two-guest run (named "twohost") or in any other."""
    if run == "twohost":
        return ["guests-" + n for n in executables("twohost")]
    return executables("guest") + ["netns-" + n for n in executables("twohost")]


def kernel_lines(console):
    with open(console, errors="replace") as f:
        for line in f:
            m = PRINTK.search(line.rstrip("\n"))
            if m:
                yield m.group(1)


def parse_ktap(lines, res):
    """Report each KUnit case (the second KTAP level) and check the plans."""
    suite = None
    suite_plan = {}
    suite_seen = {}
    top_plan = top_seen = None
    for line in lines:
        stripped = line.lstrip(" ")
        depth = (len(line) - len(stripped)) // 4
        if stripped.startswith("KTAP version") and depth == 0:
            top_plan, top_seen = top_plan or 0, top_seen or 0
            continue
        if top_seen is None:
            continue
        m = re.match(r"# Subtest: (\S+)", stripped)
        if m and depth == 1:
            suite = m.group(1)
            suite_seen[suite] = 0
            continue
        m = TAP_PLAN.match(stripped)
        if m:
            if depth == 0:
                top_plan = int(m.group(1))
            elif depth == 1 and suite:
                suite_plan[suite] = int(m.group(1))
            continue
        m = TAP_RESULT.match(stripped)
        if not m:
            continue
        ok, name, directive, why = m.group(1) == "ok", m.group(3), m.group(4), m.group(5)
        if depth == 0:
            top_seen += 1
        elif depth == 1 and suite:
            suite_seen[suite] += 1
            if directive == "SKIP":
                res.add("SKIP", f"kunit/{suite}/{name}", why or "no reason given")
            else:
                res.add("PASS" if ok else "FAIL", f"kunit/{suite}/{name}",
                        "" if ok else "see console.log")
    if top_seen is None:
        res.add("FAIL", "kunit", "no KTAP output on the console")
        return
    for s, plan in suite_plan.items():
        if suite_seen.get(s, 0) < plan:
            res.add("FAIL", f"kunit/{s}", f"planned {plan} cases, {suite_seen.get(s, 0)} reported")
    if top_plan is not None and top_seen < top_plan:
        res.add("FAIL", "kunit", f"planned {top_plan} suites, {top_seen} reported")


def has_tap(path):
    """Whether the file holds a kselftest TAP stream."""
    with open(path, errors="replace") as f:
        return any(line.rstrip("\n") == "TAP version 13" for line in f)


def parse_tap_file(path, prefix, res, where):
    """A kselftest TAP stream (one per file): one line per case, and the
    plan checked; a failed case points to @where. Returns whether it
    reported a failure of its own."""
    plan = seen = failed = 0
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            m = TAP_PLAN.match(line)
            if m:
                plan = int(m.group(1))
                continue
            m = TAP_RESULT.match(line)
            if not m:
                continue
            seen += 1
            name = f"{prefix}/{m.group(3)}"
            if m.group(4) == "SKIP":
                res.add("SKIP", name, m.group(5) or "no reason given")
            elif m.group(1) == "ok":
                res.add("PASS", name)
            else:
                failed += 1
                res.add("FAIL", name, "see " + where)
    if seen < plan or plan == 0:
        failed += 1
        res.add("FAIL", prefix, f"planned {plan} cases, {seen} reported")
    return failed > 0


def read_results(path):
    """The suite's plan (None if its first line is not one) and its
    (verdict, name, reason) lines."""
    plan, lines = None, []
    with open(path, errors="replace") as f:
        for i, line in enumerate(f):
            line = line.strip()
            m = re.match(r"^plan (\d+)$", line)
            if m and i == 0:
                plan = int(m.group(1))
                continue
            m = re.match(r"^(PASS|FAIL|SKIP) (\S+?)(?::\s*(.*))?$", line)
            if m:
                lines.append((m.group(1), m.group(2), m.group(3) or ""))
    return plan, lines


def report_results(lines, res, tap_suites, prefix="guest/"):
    for verdict, name, reason in lines:
        # A suite reported case by case from its TAP file counts once per
        # case; its own status only matters when it has none, or when it
        # failed and none of its cases says why.
        if name in tap_suites:
            if verdict == "PASS" or (verdict == "FAIL" and tap_suites[name]):
                continue
        res.add(verdict, prefix + name, reason)


def check_reported(run, plan, lines, res):
    """Every test guest-suite runs reported, and as many lines as planned
    (plan False: there was no results file to hold one)."""
    reported = {name for _, name, _ in lines}
    for name in guest_tests(run):
        if name not in reported:
            res.add("FAIL", "guest/" + name, "did not report")
    if plan is None:
        res.add("FAIL", "guest", "no plan line at the top of results")
    elif plan is not False and plan != len(lines):
        res.add("FAIL", "guest", f"planned {plan} tests, {len(lines)} reported")


def write_counts(d, res):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "counts"), "w") as f:
        f.write("{PASS} {FAIL} {SKIP}\n".format(**res.counts))
    return 1 if res.counts["FAIL"] else 0


def report_plain(name, d):
    res = Results(name)
    results = os.path.join(d, "results")
    if os.path.exists(results):
        report_results(read_results(results)[1], res, {}, "")
    else:
        res.add("FAIL", "results", "no results file")
    return write_counts(d, res)


def read_status(d):
    try:
        with open(os.path.join(d, "status")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def boot_verdict(vm_rc, status, guest_failed, splat_failed, console):
    """vm/boot: the guest ran the suite to its end, and vm.sh's exit status
    is one that the run's other lines account for."""
    where = f"(console: {console})"
    if vm_rc == 124:
        return "FAIL", f"timed out {where}"
    if vm_rc == 130:
        return "FAIL", f"interrupted {where}"
    if status is None:
        return "FAIL", f"guest ended without a status, vm exit {vm_rc} {where}"
    if vm_rc == status == 0:
        return "PASS", ""
    # The suite exits 1 when a test failed; vm.sh turns a clean exit into
    # 126 when the console shows a splat. Both have FAIL lines of their own.
    if vm_rc == status == 1 and guest_failed:
        return "PASS", ""
    if vm_rc == 126 and status == 0 and splat_failed:
        return "PASS", ""
    return "FAIL", f"vm exit {vm_rc}, guest status {status}, no failure to account for it {where}"


def scan_console(console):
    """splat-scan's first finding, or why it could not read the log."""
    scan = subprocess.run([os.path.join(REPO, "scripts", "splat-scan"), console],
                          capture_output=True, text=True)
    if scan.returncode != 0:
        return scan.stderr.strip() or f"splat-scan exit {scan.returncode} (console: {console})"
    if scan.stdout.strip():
        return scan.stdout.strip().splitlines()[0].strip() + f" (console: {console})"
    return ""


def report_peer(d, res):
    """vm/peer: guest B of a two-guest run (scripts/twohost.sh keeps it in
    b/ beside guest A's a/) ended cleanly, without a splat."""
    b = os.path.join(os.path.dirname(d), "b")
    console = os.path.join(b, "console.log")
    try:
        with open(os.path.join(b, "vm-rc")) as f:
            rc = int(f.read().strip())
    except (OSError, ValueError):
        rc = None
    splat = scan_console(console) if os.path.exists(console) else "no console log"
    killed = os.path.exists(os.path.join(b, "killed"))
    if splat:
        res.add("FAIL", "vm/peer", splat)
    elif killed and rc == 125:
        # tests/twohost/90-peer-killed rebooted it, leaving no status.
        res.add("PASS", "vm/peer")
    elif rc != 0:
        res.add("FAIL", "vm/peer", f"guest B ended with vm exit {rc} (console: {console})")
    else:
        res.add("PASS", "vm/peer")


def report_run(name, d, vm_rc):
    res = Results(name)
    console = os.path.join(d, "console.log")
    status = read_status(d)
    results = os.path.join(d, "results")
    plan, lines = read_results(results) if os.path.exists(results) else (None, [])
    splat = scan_console(console)
    guest_failed = any(v == "FAIL" for v, _, _ in lines)
    verdict, why = boot_verdict(vm_rc, status, guest_failed, bool(splat), console)
    res.add(verdict, "vm/boot", why)
    # The two-guest run boots with KUnit off: the default run has its cases.
    if os.path.exists(console) and name != "twohost":
        parse_ktap(kernel_lines(console), res)
    tap_suites = {}
    tap = os.path.join(d, "hmm-tests.tap")
    if os.path.exists(tap):
        tap_suites["40-hmm-tests"] = parse_tap_file(tap, "hmm-tests", res,
                                                    "hmm-tests.tap")
    for _, test, _ in lines:
        log = os.path.join("logs", test + ".log")
        if test not in tap_suites and os.path.exists(os.path.join(d, log)) \
                and has_tap(os.path.join(d, log)):
            tap_suites[test] = parse_tap_file(os.path.join(d, log),
                                              "guest/" + test, res, log)
    report_results(lines, res, tap_suites)
    if not os.path.exists(results):
        # A guest that never got to the suite has failed vm/boot already;
        # its tests still count, each as not reported.
        plan = False
        if status is not None:
            res.add("FAIL", "guest", "no results file")
    check_reported(name, plan, lines, res)
    if name == "twohost":
        report_peer(d, res)
    if splat:
        res.add("FAIL", "vm/no-splat", splat)
    else:
        res.add("PASS", "vm/no-splat")
    leaks = os.path.join(d, "kmemleak.txt")
    if os.path.exists(leaks):
        if os.path.getsize(leaks):
            res.add("FAIL", "vm/kmemleak", f"suspected leaks in {leaks}")
        else:
            res.add("PASS", "vm/kmemleak")
    return write_counts(d, res)


def total(dirs):
    p = f = s = 0
    for d in dirs:
        try:
            with open(os.path.join(d, "counts")) as fh:
                a, b, c = (int(x) for x in fh.read().split())
        except (OSError, ValueError):
            print(f"FAIL {os.path.basename(d)}: no results")
            a, b, c = 0, 1, 0
        p, f, s = p + a, f + b, s + c
    line = f"{p} passed, {f} failed"
    if s:
        line += f", {s} skipped"
    print(line)
    return 1 if f or not p else 0


def main(argv):
    if len(argv) == 5 and argv[1] == "run":
        return report_run(argv[2], argv[3], int(argv[4]))
    if len(argv) == 4 and argv[1] == "plain":
        return report_plain(argv[2], argv[3])
    if len(argv) >= 3 and argv[1] == "total":
        return total(argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
