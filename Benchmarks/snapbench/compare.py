#!/usr/bin/env python3
"""Median-of-medians table of several snapbench outputs of two builds, run alternately.

    Benchmarks/snapbench/compare.sh OLD_SNAPBENCH NEW_SNAPBENCH [RUNS]   runs them and prints this
    compare.py OLD1.txt,OLD2.txt,... NEW1.txt,NEW2.txt,...               prints the table of saved runs
"""
import re
import statistics
import sys


def load(path):
    rows = {}
    for line in open(path):
        m = re.match(r'(.+?)\s{2,}(\d+)\s+([\d.]+)\s+([\d.-]+)\s+(\d+)', line)
        if m:
            rows[m.group(1).strip()] = (float(m.group(3)), float(m.group(5)))
    return rows


old = [load(p) for p in sys.argv[1].split(',')]
new = [load(p) for p in sys.argv[2].split(',')]
print(f"{'operation':48} {'before':>11} {'after':>11} {'after/before':>13}")
for op in new[0]:
    after = statistics.median(run[op][0] for run in new if op in run)
    if not all(op in run for run in old):
        print(f"{op:48} {'-':>11} {after:>8.1f} µs")
        continue
    before = statistics.median(run[op][0] for run in old)
    print(f"{op:48} {before:>8.1f} µs {after:>8.1f} µs {after / before:>12.2f}x")
