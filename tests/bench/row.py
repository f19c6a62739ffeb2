#!/usr/bin/env python3
# row.py: turns measured samples into one result row of the bench (median, p99, ratio to the reference,
# the goal and whether it is met), or records a row skipped with its reason. Used by scripts/bench/*.sh.
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import add_row, pct  # noqa: E402


def read_samples(path):
    if not path or not os.path.exists(path):
        return []
    with open(path) as f:
        return [float(x) for x in f.read().split()]


def goal_text(goal, unit):
    """'max_ratio=3' -> '<= 3x ref'; 'min_ratio=0.9' -> '>= 0.9x ref'; 'max=0.5' -> '< 0.5 s'."""
    if not goal or goal == "none":
        return ""
    kind, _, value = goal.partition("=")
    return {"max_ratio": f"<= {value}x ref", "min_ratio": f">= {value}x ref",
            "max": f"< {value} {unit}", "min": f">= {value} {unit}"}[kind]


def judge(goal, amlfs, ratio):
    if not goal or goal == "none" or amlfs is None:
        return None
    kind, _, value = goal.partition("=")
    v = float(value)
    if kind == "max_ratio":
        return ratio is not None and ratio <= v
    if kind == "min_ratio":
        return ratio is not None and ratio >= v
    if kind == "max":
        return amlfs < v
    if kind == "min":
        return amlfs >= v
    raise SystemExit(f"row.py: unknown goal {goal}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["samples", "value", "skip"])
    p.add_argument("rows")
    p.add_argument("--section", required=True)
    p.add_argument("--what", required=True)
    p.add_argument("--unit", default="")
    p.add_argument("--goal", default="none")
    p.add_argument("--goal-text", default=None)
    p.add_argument("--amlfs")
    p.add_argument("--ref")
    p.add_argument("--note", default="")
    p.add_argument("--reason", default="")
    p.add_argument("--rate-mib", type=float, default=None,
                   help="samples are seconds to move this many MiB: report MiB/s (p99: the slowest)")
    a = p.parse_args()
    text = a.goal_text if a.goal_text is not None else goal_text(a.goal, a.unit)
    if a.mode == "skip":
        add_row(a.rows, section=a.section, what=a.what, unit=a.unit, goal=text, skipped_reason=a.reason,
                note=a.note)
        return
    if a.mode == "value":
        amlfs = float(a.amlfs) if a.amlfs not in (None, "") else None
        ref = float(a.ref) if a.ref not in (None, "") else None
        ratio = amlfs / ref if amlfs is not None and ref else None
        add_row(a.rows, section=a.section, what=a.what, unit=a.unit, goal=text, amlfs=amlfs, reference=ref,
                ratio=ratio, met=judge(a.goal, amlfs, ratio), n=1, note=a.note)
        return
    am, rf = read_samples(a.amlfs), read_samples(a.ref)
    if not am:
        add_row(a.rows, section=a.section, what=a.what, unit=a.unit, goal=text,
                skipped_reason=a.reason or "no sample was measured", note=a.note)
        return
    if a.rate_mib:
        # Rates: the median rate, and the slowest sample's rate in the p99 column.
        am = [a.rate_mib / t for t in am if t > 0]
        rf = [a.rate_mib / t for t in rf if t > 0]
        a_med, r_med = pct(am, 50), pct(rf, 50)
        a_tail, r_tail = pct(am, 1), pct(rf, 1)
    else:
        a_med, r_med = pct(am, 50), pct(rf, 50)
        a_tail, r_tail = pct(am, 99), pct(rf, 99)
    ratio = a_med / r_med if a_med is not None and r_med else None
    add_row(a.rows, section=a.section, what=a.what, unit=a.unit, goal=text, amlfs=a_med, reference=r_med,
            ratio=ratio, met=judge(a.goal, a_med, ratio), amlfs_p99=a_tail, reference_p99=r_tail,
            n=len(am), note=a.note)


if __name__ == "__main__":
    main()
