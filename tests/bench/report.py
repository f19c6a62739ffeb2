#!/usr/bin/env python3
# report.py: the bench's one table (Markdown, printed and saved) and the same as JSON under results/:
# a header (machine, commit, date, duration) and one object per row from the rows file.
import argparse
import json
import os
import platform
import subprocess
import time


def fmt(v):
    if v is None:
        return "-"
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 0.1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def esc(text):
    """A Markdown table cell: its own '|' must not end it."""
    return str(text).replace("|", "\\|")


def cell(med, p99):
    if med is None:
        return "-"
    return fmt(med) if p99 is None else f"{fmt(med)} ({fmt(p99)})"


def machine():
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"uname": " ".join(platform.uname()), "cpus": os.cpu_count(), "cpu_model": cpu,
            "memory_gib": round(mem_kib / (1 << 20), 1)}


def commit(root):
    def git(*args):
        r = subprocess.run(["git", "-C", root] + list(args), capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else ""
    head = git("rev-parse", "--short=12", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return head + ("+changes" if dirty else "") if head else "unknown"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", required=True)
    p.add_argument("--root", required=True)
    p.add_argument("--results", required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--load", default="")
    p.add_argument("--notes", default="", help="a file of lines said under the table (scaled-down rows)")
    a = p.parse_args()
    rows = []
    with open(a.rows) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    head = machine()
    head.update({"commit": commit(a.root), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                 "bench_seconds": round(a.seconds), "load_average_at_start": a.load})
    notes = []
    if a.notes and os.path.exists(a.notes):
        with open(a.notes) as f:
            notes = [line.rstrip() for line in f if line.strip()]
    head["notes"] = notes
    lines = [f"amlfs bench {head['date']}, commit {head['commit']}, took {head['bench_seconds']} s",
             f"machine: {head['uname']}; {head['cpus']} CPUs ({head['cpu_model']}), {head['memory_gib']} GiB; "
             f"load average at start {a.load}",
             "amlfs and reference: median (p99; for rates the slowest), measured alternately in this run",
             "",
             "| section | what | unit | amlfs | reference | ratio | goal | met |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("skipped_reason"):
            lines.append(f"| {esc(r['section'])} | {esc(r['what'])} | {r['unit']} | skipped: {esc(r['skipped_reason'])} "
                         f"| | | {esc(r['goal'])} | |")
            continue
        met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        lines.append(f"| {esc(r['section'])} | {esc(r['what'])} | {r['unit']} | {cell(r['amlfs'], r['amlfs_p99'])} | "
                     f"{cell(r['reference'], r['reference_p99'])} | {ratio} | {esc(r['goal'])} | {met} |")
    judged = [r for r in rows if r.get("met") is not None]
    lines.append("")
    lines.append(f"goals met: {sum(1 for r in judged if r['met'])} of {len(judged)}; "
                 f"rows skipped: {sum(1 for r in rows if r.get('skipped_reason'))}")
    for n in notes:
        lines.append(f"note: {n}")
    table = "\n".join(lines) + "\n"
    os.makedirs(a.results, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    doc = {"header": head, "rows": rows}
    for name in (f"bench-{stamp}.json", "latest.json"):
        with open(os.path.join(a.results, name), "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
    for name in (f"bench-{stamp}.md", "latest.md"):
        with open(os.path.join(a.results, name), "w") as f:
            f.write(table)
    print(table, end="")
    print(f"written: {os.path.join(a.results, f'bench-{stamp}.json')} (and latest.json, latest.md)")


if __name__ == "__main__":
    main()
