#!/usr/bin/env python3
# metrics_mount.py: issue 9's scale read through the mount, as a user reads it: one run's SERIES series of
# POINTS points and an experiment of RUNS runs are made by real jobs (AMLFS_METRICS lines, parameters by
# MLflow's log-batch), then metrics/NAME, metrics.json, the run's chart, metrics.tsv and the overlay are
# timed with cat's way of reading. Prints "WHAT<TAB>MS<TAB>BYTES" lines; exits 1 when a job or read fails.
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import Api, evict  # noqa: E402

# The job: writes its series to AMLFS_METRICS and, given an lr, logs parameters as MLflow's client does.
JOB = r'''
import json, os, sys, urllib.request
series, points, lr = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
with open(os.environ["AMLFS_METRICS"], "a") as f:
    for k in range(series):
        name = "loss" if k == 0 else "series%03d" % k
        f.write("".join(json.dumps({"name": name, "value": 2.0 / (1 + i * (k + 1) * 0.001), "step": i}) + "\n"
                        for i in range(points)))
if lr != "-":
    body = {"run_id": os.environ["MLFLOW_RUN_ID"], "metrics": [], "tags": [],
            "params": [{"key": "lr", "value": lr}, {"key": "epochs", "value": "10"}, {"key": "model", "value": "resnet"}]}
    req = urllib.request.Request(os.environ["MLFLOW_TRACKING_URI"].rstrip("/") + "/api/2.0/mlflow/runs/log-batch",
                                 data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json",
                                          "Authorization": "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"]})
    urllib.request.urlopen(req, timeout=60).read()
'''


def wait_until(pred, seconds, what):
    deadline = time.monotonic() + seconds
    while not pred():
        if time.monotonic() > deadline:
            raise SystemExit(f"metrics_mount: timed out waiting for {what}")
        time.sleep(0.1)


def submit(api, exp, command):
    yaml = f'command: "{command}"\nenvironment: azureml:host@latest\ncompute: azureml:local\n'
    return api.json("POST", f"/v1/experiments/{exp}/runs", {"yaml": yaml, "filename": "job.yaml"})["id"]


def local_idle(api):
    c = api.json("GET", "/v1/computes/local")
    return c["running"] == 0 and c["queued"] == 0


def read(path):
    """ms and bytes of reading path whole, 128 KiB at a time (cat's size), its cached pages dropped first."""
    evict([path])
    t0 = time.perf_counter()
    n = 0
    with open(path, "rb") as f:
        while True:
            b = f.read(131072)
            if not b:
                break
            n += len(b)
    return (time.perf_counter() - t0) * 1000, n


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sock", required=True)
    p.add_argument("--mnt", required=True)
    p.add_argument("--dir", required=True, help="a folder of the bench's own for the job's script")
    p.add_argument("--points", type=int, default=10000)
    p.add_argument("--series", type=int, default=100)
    p.add_argument("--runs", type=int, default=1000)
    p.add_argument("--parallel", type=int, default=32)
    a = p.parse_args()
    api = Api(a.sock)
    script = os.path.join(a.dir, "metrics_job.py")
    with open(script, "w") as f:
        f.write(JOB)
    for exp in ("mbig", "mruns"):
        os.makedirs(os.path.join(a.mnt, "experiments", exp), exist_ok=True)
    before = api.json("GET", "/v1/computes/local")["max_instances"]
    api.json("PUT", "/v1/computes/local", {"yaml": f"type: local\nmax_instances: {a.parallel}\n", "filename": "compute.yaml"})
    try:
        t0 = time.perf_counter()
        big = submit(api, "mbig", f"python3 {script} {a.series} {a.points} -")
        ids = [submit(api, "mruns", f"python3 {script} 5 100 {0.001 * (k + 1):g}") for k in range(a.runs)]
        wait_until(lambda: local_idle(api), 1800, "the jobs to end")
        wanted = set(ids + [big])
        bad = [r for r in api.all_runs() if r["id"] in wanted and r["status"] != "Completed"]
        if bad:
            raise SystemExit(f"metrics_mount: {len(bad)} runs did not complete, e.g. {bad[0]['id']}: {bad[0]['status']}")
        print(f"made\t{(time.perf_counter() - t0) * 1000:.0f}\t0", flush=True)
    finally:
        api.json("PUT", "/v1/computes/local", {"yaml": f"type: local\nmax_instances: {before}\n", "filename": "compute.yaml"})
    run = os.path.join(a.mnt, "runs", big)
    exp = os.path.join(a.mnt, "experiments", "mruns")
    # A run can be Completed before the server has read all its lines: how long the rest takes.
    t0 = time.perf_counter()
    def points():
        return json.loads(api.request("GET", f"/v1/runs/{big}")[1]).get("metrics", {}).get("points")
    seen = points()
    deadline = time.monotonic() + 300
    while seen != a.series * a.points and time.monotonic() < deadline:
        time.sleep(0.2)
        seen = points()
    if seen != a.series * a.points:
        raise SystemExit(f"metrics_mount: the big run has {seen} points of {a.series * a.points} 300 s after it ended")
    print(f"late points\t{(time.perf_counter() - t0) * 1000:.0f}\t0", flush=True)
    reads = [
        ("metrics/NAME", os.path.join(run, "metrics", "series050" if a.series > 50 else "loss")),
        ("metrics.json", os.path.join(run, "metrics.json")),
        ("metrics/NAME.svg", os.path.join(run, "metrics", "loss.svg")),
        ("metrics.tsv", os.path.join(exp, "metrics.tsv")),
        ("overlay.svg", os.path.join(exp, "metrics", "loss.svg")),
    ]
    for what, path in reads:
        first, n = read(path)
        again = sorted(read(path)[0] for _ in range(3))[1]
        print(f"{what}\t{first:.1f}\t{n}\t{again:.1f}", flush=True)
    t0 = time.perf_counter()
    names = os.listdir(os.path.join(run, "metrics"))
    print(f"ls metrics/\t{(time.perf_counter() - t0) * 1000:.1f}\t{len(names)}", flush=True)


if __name__ == "__main__":
    main()
