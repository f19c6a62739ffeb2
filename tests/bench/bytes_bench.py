#!/usr/bin/env python3
# bytes_bench.py: reading a finished 1 GiB output that a job wrote: cat, dd bs=1M and cp through the mount
# vs curl of the API and vs the server's own file, cold (page cache of the file dropped) and read again;
# and the server's memory while it serves the file whole.
import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import add_row, evict, pct, proc_mem_kib  # noqa: E402

SECTION = "bytes"


def rss_kib(pid):
    return proc_mem_kib(pid).get("VmRSS", 0)


def timed(cmd, watch_pid=None):
    """Seconds cmd took; with watch_pid also how much that process's RSS grew meanwhile (MiB, sampled
    every 2 ms: a peak mark would keep an earlier peak)."""
    before = peak = rss_kib(watch_pid) if watch_pid else 0
    t0 = time.perf_counter()
    proc = subprocess.Popen(["bash", "-c", cmd], stdout=subprocess.DEVNULL)
    while proc.poll() is None:
        if watch_pid:
            peak = max(peak, rss_kib(watch_pid))
        time.sleep(0.002)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"bytes_bench: `{cmd}` failed")
    return took, (peak - before) / 1024


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", required=True)
    p.add_argument("--mount-file", required=True)
    p.add_argument("--server-file", required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--sock", required=True)
    p.add_argument("--tmp", required=True)
    p.add_argument("--server-pid", type=int, required=True)
    p.add_argument("--reps", type=int, default=3)
    a = p.parse_args()
    mib = os.path.getsize(a.server_file) / (1 << 20)
    m, s = a.mount_file, a.server_file
    copy = os.path.join(a.tmp, "copy.bin")
    curl = f'curl -sS --fail --unix-socket "{a.sock}" "{a.url}"'
    cases = {  # name: command
        "cat": f'cat "{m}" > /dev/null',
        "cat_again": f'cat "{m}" > /dev/null',
        "server_cold": f'cat "{s}" > /dev/null',
        "server_again": f'cat "{s}" > /dev/null',
        "dd": f'dd if="{m}" of=/dev/null bs=1M status=none',
        "curl": f'{curl} -o /dev/null',
        "cp": f'cp "{m}" "{copy}" && rm "{copy}"',
        "curl_o": f'{curl} -o "{copy}" && rm "{copy}"',
    }
    # Each group starts cold (the file's pages dropped, on the mount and on the server's disk); a second
    # name in a group reads again right after the first. Odd tries go through the groups backwards.
    groups = [["cat", "cat_again"], ["server_cold", "server_again"], ["dd"], ["curl"], ["cp"], ["curl_o"]]
    samples = {k: [] for k in cases}
    server_growth = None
    for rep in range(a.reps):
        for group in (groups if rep % 2 == 0 else list(reversed(groups))):
            evict([s, m])
            for name in group:
                watch = a.server_pid if name == "curl" else None
                took, grew = timed(cases[name], watch)
                samples[name].append(took)
                if watch:
                    server_growth = grew if server_growth is None else max(server_growth, grew)

    def row(what, name, ref, goal, note=""):
        am, rf = samples[name], samples[ref]
        a_rate = [mib / t for t in am]
        r_rate = [mib / t for t in rf]
        a_med, r_med = pct(a_rate, 50), pct(r_rate, 50)
        met = None
        if goal:
            met = a_med >= 0.9 * r_med
        add_row(a.rows, section=SECTION, what=what, unit="MiB/s", amlfs=a_med, amlfs_p99=pct(a_rate, 1),
                reference=r_med, reference_p99=pct(r_rate, 1), ratio=a_med / r_med, goal=goal, met=met,
                n=len(am), note=note)
    g = ">= 0.9x ref"
    row("1 GiB output, cold: cat (vs curl of the API)", "cat", "curl", g)
    row("1 GiB output, cold: dd bs=1M (vs curl of the API)", "dd", "curl", g)
    row("1 GiB output, cold: cp to local disk (vs curl -o)", "cp", "curl_o", g)
    row("1 GiB output, cold: cat (vs cat of the server's file)", "cat", "server_cold", "")
    row("1 GiB output, read again: cat (vs the server's file again)", "cat_again", "server_again", g,
        "page-cache speed is the goal")
    add_row(a.rows, section="memory", what="amlfs-server while curl reads the 1 GiB output whole", unit="MiB",
            amlfs=server_growth, goal="bounded (< 64 MiB growth)",
            met=server_growth is not None and server_growth < 64, n=1,
            note="largest growth of its RSS during a GET without a range (curl), sampled every 2 ms")


if __name__ == "__main__":
    main()
