#!/usr/bin/env python3
# mem_during.py: how much a process's RSS grows while a command runs: `mem_during.py PID CMD...` samples
# PID's VmRSS every 2 ms (a peak mark, VmHWM, would keep an earlier peak) and prints the growth in MiB.
import subprocess
import sys
import time


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    pid = int(sys.argv[1])
    before = rss_kib(pid)
    peak = before
    proc = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL)
    while proc.poll() is None:
        peak = max(peak, rss_kib(pid))
        time.sleep(0.002)
    peak = max(peak, rss_kib(pid))
    if proc.returncode != 0:
        sys.exit(f"mem_during: {' '.join(sys.argv[2:])} failed")
    print(f"{(peak - before) / 1024:.1f}")


if __name__ == "__main__":
    main()
