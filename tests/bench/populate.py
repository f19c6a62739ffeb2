#!/usr/bin/env python3
# populate.py: real runs at scale through the API. `park` makes a compute whose one place a long job holds,
# so what is submitted to it waits Queued (no process, no copy); `fill` submits up to a total there;
# `unpark` cancels every waiting run and the holder; `execute` runs trivial jobs to Completed; `reftree`
# writes the same tree of runs on a local folder, the reference for the metadata rows.
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import Api  # noqa: E402

PARKED = "parked"


def job_yaml(command, compute):
    return f'command: "{command}"\nenvironment: azureml:host@latest\ncompute: azureml:{compute}\n'


def wait_until(pred, seconds, what):
    deadline = time.monotonic() + seconds
    while not pred():
        if time.monotonic() > deadline:
            raise SystemExit(f"populate: timed out waiting for {what}")
        time.sleep(0.05)


def compute_idle(api, name):
    c = api.json("GET", f"/v1/computes/{name}")
    return c["running"] == 0 and c["queued"] == 0


def cmd_park(a):
    api = Api(a.sock)
    status, _ = api.request("GET", f"/v1/computes/{PARKED}")
    if status == 404:
        api.json("POST", "/v1/computes", {"name": PARKED})
    api.json("PUT", f"/v1/computes/{PARKED}",
             {"yaml": f"name: {PARKED}\ntype: amlcompute\nmax_instances: 1\n", "filename": "compute.yaml"})
    holder = api.json("POST", f"/v1/experiments/{a.exp}/runs",
                      {"yaml": job_yaml("sleep 3600", PARKED), "filename": "job.yaml"})
    wait_until(lambda: api.json("GET", f"/v1/runs/{holder['id']}")["status"] == "Running", 30,
               "the parked compute's holder to run")
    print(holder["id"])


def post_many(sock, exp, count, command, compute):
    api = Api(sock)
    body = {"yaml": job_yaml(command, compute), "filename": "job.yaml"}
    for _ in range(count):
        api.json("POST", f"/v1/experiments/{exp}/runs", body)


def cancel_many(sock, ids):
    api = Api(sock)
    for rid in ids:
        api.json("POST", f"/v1/runs/{rid}/cancel", ok=(202, 409))


def fan_out(mode, args_per_proc):
    """Run this script's `mode` in one process per argument list, all at once; fail if any fails."""
    me = os.path.abspath(__file__)
    procs = [subprocess.Popen([sys.executable, me, mode] + [str(x) for x in args]) for args in args_per_proc]
    if any(p.wait() != 0 for p in procs):
        raise SystemExit(f"populate: {mode} failed")


def cancel_parked(api, sock, procs, keep_holder):
    """Cancel every run waiting on the parked compute (and its holder unless keep_holder); how many."""
    runs = api.all_runs()
    waiting = [r["id"] for r in runs if r["compute"] == PARKED and r["status"] in ("NotStarted", "Queued")]
    holders = [r["id"] for r in runs if r["compute"] == PARKED and r["status"] == "Running"]
    if waiting:
        fan_out("_cancel", [[sock] + waiting[k::procs] for k in range(procs) if waiting[k::procs]])
    if not keep_holder:
        cancel_many(sock, holders)
        wait_until(lambda: compute_idle(api, PARKED), 60, "the parked compute to empty")
    return len(waiting)


def cmd_fill(a):
    """Submit to the parked compute until the workspace has a.total runs, a batch at a time, each batch
    canceled before the next: the server's cost of a submission grows with the runs waiting in its queue
    (see the README's Performance section), so the queue is kept short. One experiment per process."""
    api = Api(a.sock)
    have = api.json("GET", "/v1/workspace")["counts"]["runs"]
    start = have
    t0 = time.perf_counter()
    while have < a.total:
        need = min(a.batch, a.total - have)
        share = [need // a.procs + (1 if k < need % a.procs else 0) for k in range(a.procs)]
        fan_out("_post", [[a.sock, f"{a.exp}{k}", n, "true", PARKED] for k, n in enumerate(share) if n])
        cancel_parked(api, a.sock, a.procs, keep_holder=True)
        have = api.json("GET", "/v1/workspace")["counts"]["runs"]
    el = time.perf_counter() - t0
    print(f"{have - start} runs submitted and canceled while queued in {el:.1f} s; {have} in all")


def cmd_unpark(a):
    api = Api(a.sock)
    t0 = time.perf_counter()
    n = cancel_parked(api, a.sock, a.procs, keep_holder=False)
    print(f"{n} waiting runs and the holder canceled in {time.perf_counter() - t0:.1f} s")


def cmd_execute(a):
    """a.count trivial runs on the local compute, a.parallel at once (then its max_instances is put back)."""
    api = Api(a.sock)
    before = api.json("GET", "/v1/computes/local")["max_instances"]
    set_local_max(api, a.parallel)
    t0 = time.perf_counter()
    share = [a.count // a.procs + (1 if k < a.count % a.procs else 0) for k in range(a.procs)]
    fan_out("_post", [[a.sock, a.exp, n, "true", "local"] for n in share if n])
    wait_until(lambda: compute_idle(api, "local"), 600, "the executed runs to end")
    took = time.perf_counter() - t0
    set_local_max(api, before)
    print(f"{a.count} runs executed in {took:.1f} s, {a.parallel} at once")


def set_local_max(api, n):
    api.json("PUT", "/v1/computes/local", {"yaml": f"type: local\nmax_instances: {n}\n", "filename": "compute.yaml"})


def cmd_reftree(a):
    """DEST/runs/ID/... for every run: the names, kinds and sizes the mount shows for a sample run (its
    folders and their entries), with each run's own status and info.json."""
    api = Api(a.sock)
    runs = api.all_runs()
    sample = os.path.join(a.mnt, "runs", a.sample or runs[-1]["id"])  # default: the newest, a trivial run
    files, dirs = {}, {}
    for name in os.listdir(sample):
        p = os.path.join(sample, name)
        if os.path.isdir(p):
            dirs[name] = sorted(os.listdir(p))
        elif name not in ("status", "info.json"):
            with open(p, "rb") as f:
                files[name] = f.read() if os.access(p, os.R_OK) else b""
    root = os.path.join(a.dest, "runs")
    os.makedirs(root, exist_ok=True)
    for r in runs:
        d = os.path.join(root, r["id"])
        os.mkdir(d)
        for name, data in files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        with open(os.path.join(d, "status"), "w") as f:
            f.write(r["status"] + "\n")
        with open(os.path.join(d, "info.json"), "w") as f:
            f.write(json.dumps(r, indent=2) + "\n")
        for name, entries in dirs.items():
            os.mkdir(os.path.join(d, name))
            for e in entries:
                open(os.path.join(d, name, e), "wb").close()
    print(f"{len(runs)} runs written under {root}")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "_post":
        post_many(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_cancel":
        cancel_many(sys.argv[2], sys.argv[3:])
        return
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["park", "fill", "unpark", "execute", "reftree"])
    p.add_argument("--sock", required=True)
    p.add_argument("--exp", default="scale")
    p.add_argument("--total", type=int, default=10000)
    p.add_argument("--count", type=int, default=300)
    p.add_argument("--procs", type=int, default=4)
    p.add_argument("--batch", type=int, default=1500)
    p.add_argument("--parallel", type=int, default=32)
    p.add_argument("--mnt")
    p.add_argument("--sample")
    p.add_argument("--dest")
    a = p.parse_args()
    {"park": cmd_park, "fill": cmd_fill, "unpark": cmd_unpark, "execute": cmd_execute,
     "reftree": cmd_reftree}[a.mode](a)


if __name__ == "__main__":
    main()
