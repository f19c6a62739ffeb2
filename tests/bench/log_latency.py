#!/usr/bin/env python3
# log_latency.py: how late a log line shows. `emit` is the job (timestamped lines at a rate); `run` follows
# the run's log on the mount and the server's own file at once, each with a 1 ms poller and with tail -f.
import argparse
import json
import os
import select
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import add_row, pct  # noqa: E402

FOLLOW_DEADLINE_S = 120


def emit(rate, seconds, delay):
    """The job: after delay, `L SEQ WALLCLOCK_NS` lines at rate per second for seconds, then END. Each
    line is one write(2) straight into the log file (the job's stdout)."""
    time.sleep(delay)
    n = int(rate * seconds)
    start = time.monotonic()
    for i in range(n):
        due = start + i / rate
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        os.write(1, b"L %d %d\n" % (i, time.time_ns()))
    time.sleep(0.3)
    os.write(1, b"END\n")


class Seen:
    """Latency (ms) of each line seen after this follower started; stops at END."""

    def __init__(self):
        self.start_ns = time.time_ns()
        self.lat = {}
        self.done = False
        self.buf = b""

    def feed(self, data, now_ns):
        self.buf += data
        *lines, self.buf = self.buf.split(b"\n")
        for line in lines:
            if line == b"END":
                self.done = True
            elif line.startswith(b"L "):
                _, seq, ts = line.split()
                ts = int(ts)
                if ts >= self.start_ns:
                    self.lat[int(seq)] = (now_ns - ts) / 1e6


def follow_poll(path, out):
    """read(2) from where the last read ended, every 1 ms (a poller such as `less +F` or a script)."""
    seen = Seen()
    deadline = time.monotonic() + FOLLOW_DEADLINE_S
    fd = os.open(path, os.O_RDONLY)
    try:
        while not seen.done and time.monotonic() < deadline:
            data = os.read(fd, 1 << 20)
            if data:
                seen.feed(data, time.time_ns())
            else:
                time.sleep(0.001)
    finally:
        os.close(fd)
    with open(out, "w") as f:
        json.dump(seen.lat, f)


def follow_tail(path, out):
    """What `tail -f` prints, timestamped as each line arrives on its standard output."""
    seen = Seen()
    tail = subprocess.Popen(["tail", "-f", path], stdout=subprocess.PIPE, bufsize=0)
    fd = tail.stdout.fileno()
    deadline = time.monotonic() + FOLLOW_DEADLINE_S
    try:
        while not seen.done and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            data = os.read(fd, 1 << 20)
            if not data:
                break
            seen.feed(data, time.time_ns())
    finally:
        tail.terminate()
        tail.wait()
    with open(out, "w") as f:
        json.dump(seen.lat, f)


def load(path):
    try:
        with open(path) as f:
            return {int(k): v for k, v in json.load(f).items()}
    except (OSError, ValueError):
        return {}


def summarize(rows, what, mount, server, goal, expected, note):
    both = sorted(set(mount) & set(server))
    if not both:
        add_row(rows, section="log latency", what=what, unit="ms",
                skipped_reason=f"no line was seen by both followers ({len(mount)} on the mount, "
                               f"{len(server)} on the server's file)")
        return
    m = [mount[s] for s in both]
    r = [server[s] for s in both]
    delta = [mount[s] - server[s] for s in both]
    d50, d99 = pct(delta, 50), pct(delta, 99)
    met = None
    goal_text = ""
    if goal:
        met = d50 < 5 and d99 < 20
        goal_text = "+<5 ms p50, +<20 ms p99"
    missed = expected - len(mount)
    k = max(1, len(both) // 8)
    drift = f", first {k} lines +{pct(delta[:k], 50):.1f} ms, last {k} +{pct(delta[-k:], 50):.1f} ms"
    add_row(rows, section="log latency", what=what, unit="ms", amlfs=pct(m, 50), amlfs_p99=pct(m, 99),
            reference=pct(r, 50), reference_p99=pct(r, 99), ratio=None, goal=goal_text, met=met,
            n=len(both), note=f"added by the mount: p50 {d50:.1f} ms, p99 {d99:.1f} ms{drift}"
                              + (f"; {missed} lines not seen on the mount" if missed > 0 else "") + note)


def run(args):
    """Follow both files four ways at once, then write the rows."""
    me = os.path.abspath(__file__)
    outs = {k: os.path.join(args.tmp, f"lat-{k}.json") for k in ("mp", "sp", "mt", "st")}
    procs = [subprocess.Popen([sys.executable, me, mode, path, outs[k]])
             for k, mode, path in (("mp", "poll", args.mount_log), ("sp", "poll", args.server_log),
                                   ("mt", "tail", args.mount_log), ("st", "tail", args.server_log))]
    for p in procs:
        try:
            p.wait(timeout=FOLLOW_DEADLINE_S + 10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    expected = int(args.rate * args.seconds)
    label = f"{args.rate:g} lines/s"
    summarize(args.rows, f"1 ms poller, {label}: mount vs server's file", load(outs["mp"]), load(outs["sp"]),
              True, expected, "")
    summarize(args.rows, f"tail -f, {label}: mount vs server's file", load(outs["mt"]), load(outs["st"]),
              False, expected, "; tail polls FUSE every 1 s, uses inotify on a local file")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="mode", required=True)
    e = sub.add_parser("emit")
    e.add_argument("rate", type=float)
    e.add_argument("seconds", type=float)
    e.add_argument("delay", type=float)
    for mode in ("poll", "tail"):
        f = sub.add_parser(mode)
        f.add_argument("path")
        f.add_argument("out")
    r = sub.add_parser("run")
    r.add_argument("--rows", required=True)
    r.add_argument("--tmp", required=True)
    r.add_argument("--rate", type=float, required=True)
    r.add_argument("--seconds", type=float, required=True)
    r.add_argument("--mount-log", required=True)
    r.add_argument("--server-log", required=True)
    a = p.parse_args()
    if a.mode == "emit":
        emit(a.rate, a.seconds, a.delay)
    elif a.mode == "poll":
        follow_poll(a.path, a.out)
    elif a.mode == "tail":
        follow_tail(a.path, a.out)
    else:
        run(a)


if __name__ == "__main__":
    main()
