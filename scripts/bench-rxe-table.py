#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Table and CSV of make bench's rxe ODP rows (bench/guest-rxe-odp output).

  bench-rxe-table.py RAW CSV

ODP and pinned run back to back in each round, in alternating order. The
odp and pinned columns are medians over the rounds; the ratio, which the
target applies to, is the median of each round's ODP / pinned pair, so that
what drifts over a long run (the host's load, the emulator's caches) cancels
out of it.
"""
import statistics
import sys
from collections import defaultdict

TARGETS = {"warm": (">=", 0.98), "cold": (">=", 0.95), "reg": ("<=", 0.001)}


def load(path):
    """{(kind, test, size, mode): {round: value}} from the raw lines."""
    runs = defaultdict(dict)
    for line in open(path):
        f = line.split()
        if f[0] == "warm" and len(f) == 6:      # warm <tool> <bytes> <mode> <MB/s> <round>
            key, mode, val = ("warm", f[1], f[2]), f[3], f[4]
        elif f[0] == "cold" and len(f) == 6:    # cold <op> <mode> <MiB> <MB/s> <round>
            key, mode, val = ("cold", f[1], f[3] + "MiB"), f[2], f[4]
        elif f[0] == "reg" and len(f) == 5:     # reg <mode> <MiB> <ns> <round>
            key, mode, val = ("reg", "ibv_reg_mr", f[2] + "MiB"), f[1], f[3]
        else:
            continue
        try:
            runs[key + (mode,)][f[-1]] = float(val)
        except ValueError:
            pass                # a run that printed no figure
    return runs


def stall_table(path):
    """QP B's warm WRITE bandwidth with QP A faulting a cold MR, over B's
    alone: the median of the rounds' ratios, and their spread."""
    alone, ratios = [], []
    for line in open(path):
        f = line.split()
        if f[0] != "stall" or len(f) != 5:    # stall <alone> <with A> <A> <round>
            continue
        try:
            a, w = float(f[1]), float(f[2])
        except ValueError:
            continue
        if a > 0:
            alone.append(a)
            ratios.append(w / a)
    if not ratios:
        return False
    print("stall: QP B's WRITE MB/s with QP A faulting in a cold 1 GiB ODP MR, over B alone")
    print("  B alone %.6g MB/s (median), B-with-A / B-alone %.4f (median of %d rounds, %.4f..%.4f)"
          % (statistics.median(alone), statistics.median(ratios), len(ratios),
             min(ratios), max(ratios)))
    return True


def main(raw, csv):
    stalls = stall_table(raw)
    runs = load(raw)
    rows = []
    for key in sorted({k[:3] for k in runs}, key=lambda k: (list(TARGETS).index(k[0]), k[1], len(k[2]), k[2])):
        odp, pinned = runs.get(key + ("odp",)), runs.get(key + ("pinned",))
        pairs = [odp[r] / pinned[r] for r in (odp or {}) if pinned and pinned.get(r)]
        if not pairs:
            continue
        mo, mp = statistics.median(odp.values()), statistics.median(pinned.values())
        rel, target = TARGETS[key[0]]
        ratio = statistics.median(pairs)
        ok = ratio >= target if rel == ">=" else ratio <= target
        rows.append(key + (mo, mp, ratio, "%s %g" % (rel, target), "met" if ok else "MISSED",
                           len(pairs)))
    unit = {"warm": "MB/s", "cold": "MB/s", "reg": "ns"}
    with open(csv, "w") as f:
        f.write("kind,test,size,odp,pinned,unit,odp_over_pinned,target,verdict,rounds\n")
        for r in rows:
            f.write("%s,%s,%s,%.6g,%.6g,%s,%.4f,%s,%s,%d\n"
                    % (r[0], r[1], r[2], r[3], r[4], unit[r[0]], r[5], r[6], r[7], r[8]))
    if not rows:
        return 0 if stalls else 1
    print("%-5s %-12s %-8s %14s %14s %6s %10s %8s %s" %
          ("kind", "test", "size", "odp", "pinned", "unit", "odp/pinned", "target", ""))
    for r in rows:
        print("%-5s %-12s %-8s %14.6g %14.6g %6s %10.4f %8s %s" %
              (r[0], r[1], r[2], r[3], r[4], unit[r[0]], r[5], r[6], r[7]))
    print("medians of %d rounds (odp/pinned: of the pairs); csv: %s"
          % (min(r[8] for r in rows) if rows else 0, csv))
    return 0 if rows or stalls else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
