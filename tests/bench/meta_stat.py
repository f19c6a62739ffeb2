#!/usr/bin/env python3
# meta_stat.py: one stat(2) at a time of a run's file not looked at recently (random runs), through the
# mount and on the local tree of the same runs, alternately; per-call median and p99.
import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import add_row, pct  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", required=True)
    p.add_argument("--mnt", required=True)
    p.add_argument("--ref", required=True)
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--section", required=True)
    a = p.parse_args()
    ids = sorted(os.listdir(os.path.join(a.ref, "runs")))
    rng = random.Random(12)
    picks = rng.sample(ids, min(a.n, len(ids)))
    am, rf = [], []
    for rid in picks:
        for root, out in ((a.mnt, am), (a.ref, rf)):
            path = os.path.join(root, "runs", rid, "info.json")
            t0 = time.perf_counter()
            os.stat(path)
            out.append((time.perf_counter() - t0) * 1000)
    a_med, r_med = pct(am, 50), pct(rf, 50)
    add_row(a.rows, section=a.section, what="stat runs/RANDOM/info.json, one call (vs local disk)",
            unit="ms", amlfs=a_med, amlfs_p99=pct(am, 99), reference=r_med, reference_p99=pct(rf, 99),
            ratio=a_med / r_med if r_med else None, n=len(am),
            note="a run not looked at in the last second; the local tree's dentries are cached")


if __name__ == "__main__":
    main()
