#!/usr/bin/env python3
# submit_latency.py: how long from a submission to Running and to Completed, through the mount (job.yaml
# written, status read at 1 ms) and through the API (POST, GET at 1 ms), and through Slurm's own sbatch.
import argparse
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import Api, add_row, pct  # noqa: E402

DEADLINE_S = 60
POLL_S = 0.001


def job_yaml(command, compute):
    return f'command: "{command}"\nenvironment: azureml:host@latest\ncompute: azureml:{compute}\n'


def wait_words(read_status, words):
    """Poll read_status() every 1 ms; {word: seconds since t0 when first seen}; ends at the last word or
    any terminal status."""
    t0 = time.perf_counter()
    seen = {}
    deadline = t0 + DEADLINE_S
    while time.perf_counter() < deadline:
        st = read_status()
        now = time.perf_counter() - t0
        for w in words:
            if w not in seen and (st == w or (w == "Running" and st == "Finalizing")):
                seen[w] = now
        if words[-1] in seen or st in ("Failed", "Canceled"):
            break
        time.sleep(POLL_S)
    return seen


def mount_submit(mnt, exp, yaml):
    """Write job.yaml as one open/write/close (close returns once the run is submitted); the run id."""
    path = os.path.join(mnt, "experiments", exp, "job.yaml")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, yaml.encode())
    os.close(fd)
    with open(os.path.join(mnt, "experiments", exp, "status")) as f:
        line = f.read().strip()
    m = re.match(r"submitted (\S+)", line)
    if not m:
        raise RuntimeError(f"submission through the mount refused: {line}")
    return m.group(1)


def read_file(path):
    def read():
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError:
            return ""
    return read


def mount_sample(mnt, exp, yaml, words):
    t0 = time.perf_counter()
    rid = mount_submit(mnt, exp, yaml)
    t_sub = time.perf_counter() - t0
    seen = wait_words(read_file(os.path.join(mnt, "runs", rid, "status")), words)
    return {w: t_sub + s for w, s in seen.items()}


def api_sample(api, exp, yaml, words):
    t0 = time.perf_counter()
    run = api.json("POST", f"/v1/experiments/{exp}/runs", {"yaml": yaml, "filename": "job.yaml"})
    t_sub = time.perf_counter() - t0
    seen = wait_words(lambda: api.json("GET", f"/v1/runs/{run['id']}")["status"], words)
    return {w: t_sub + s for w, s in seen.items()}


def sbatch_sample(partition, command, words):
    t0 = time.perf_counter()
    out = subprocess.run(["sbatch", "--parsable", "-p", partition, "-o", "/dev/null", "--wrap", command],
                         capture_output=True, text=True, check=True).stdout.strip()
    t_sub = time.perf_counter() - t0
    job = out.split(";")[0]
    slurm_words = {"RUNNING": "Running", "COMPLETING": "Running", "COMPLETED": "Completed",
                   "FAILED": "Failed", "CANCELLED": "Canceled"}

    def read():
        r = subprocess.run(["scontrol", "-o", "show", "job", job], capture_output=True, text=True)
        m = re.search(r"JobState=(\S+)", r.stdout)
        return slurm_words.get(m.group(1), m.group(1)) if m else ""
    seen = wait_words(read, words)
    return {w: t_sub + s for w, s in seen.items()}


def write_rows(rows, section, label, words, am, rf, ref_name, note, slow_s=None):
    for w in words:
        a = [s[w] for s in am if w in s]
        r = [s[w] for s in rf if w in s]
        extra = ""
        if slow_s:
            extra = (f"; over {slow_s * 1000:.0f} ms: {sum(x > slow_s for x in a)} of {len(a)} through the mount, "
                     f"{sum(x > slow_s for x in r)} of {len(r)} through the API")
        if not a:
            add_row(rows, section=section, what=f"{label} to {w}", unit="ms",
                    skipped_reason=f"{w} was never seen through the mount ({len(am)} tries)")
            continue
        a_med, r_med = pct(a, 50), pct(r, 50)
        add_row(rows, section=section, what=f"{label} to {w} (vs {ref_name})", unit="ms",
                amlfs=a_med * 1000, amlfs_p99=pct(a, 99) * 1000,
                reference=r_med * 1000 if r else None, reference_p99=pct(r, 99) * 1000 if r else None,
                ratio=a_med / r_med if r else None, n=len(a), note=note + extra)


def cmd_latency(a):
    api = Api(a.sock)
    am, rf = {"Running": [], "Completed": []}, {"Running": [], "Completed": []}
    for w, command in (("Running", "sleep 0.3"), ("Completed", "true")):
        yaml = job_yaml(command, "local")
        words = ["Running", "Completed"]
        for _ in range(a.n):
            am[w].append(mount_sample(a.mnt, a.exp, yaml, words))
            rf[w].append(api_sample(api, a.exp, yaml, words))
    write_rows(a.rows, "submit latency", "submit", ["Running"], am["Running"], rf["Running"], "the API",
               "job: sleep 0.3; status polled every 1 ms")
    write_rows(a.rows, "submit latency", "submit", ["Completed"], am["Completed"], rf["Completed"], "the API",
               "job: true; status polled every 1 ms", slow_s=0.5)


def cmd_slurm(a):
    words = ["Running", "Completed"]
    yaml = job_yaml("sleep 1", a.compute)
    am, rf = [], []
    for _ in range(a.n):
        am.append(mount_sample(a.mnt, a.exp, yaml, words))
        rf.append(sbatch_sample(a.partition, "sleep 1", words))
    write_rows(a.rows, "submit latency", "Slurm: submit", words, am, rf, "sbatch",
               "job: sleep 1; amlfs status at 1 ms, sbatch's through scontrol")


def cmd_rate(a):
    """Submissions per second from K shells at once, each writing its own experiment's job.yaml in a loop
    (bash, no fork per save), vs K processes POSTing to the API on kept-alive connections."""
    yaml = job_yaml("true", a.compute)
    api = Api(a.sock)
    per = a.count // a.shells
    loop = 'for ((i = 0; i < N; i++)); do printf "%s" "$Y" > "$F" || exit 1; done'
    me = os.path.abspath(__file__)
    am, rf = [], []
    for _ in range(a.reps):
        before = api.json("GET", "/v1/workspace")["counts"]["runs"]
        t0 = time.perf_counter()
        procs = [subprocess.Popen(["bash", "-c", loop],
                                  env=dict(os.environ, N=str(per), Y=yaml,
                                           F=os.path.join(a.mnt, "experiments", f"{a.exp}{k}", "job.yaml")))
                 for k in range(a.shells)]
        bad = sum(p.wait() != 0 for p in procs)
        am.append(time.perf_counter() - t0)
        made = api.json("GET", "/v1/workspace")["counts"]["runs"] - before
        if bad or made != per * a.shells:
            raise SystemExit(f"submit_latency: {made} of {per * a.shells} submissions through the mount made runs")
        # The clients start together at an agreed moment (their interpreters' start-up is not timed);
        # each prints when it finished.
        start = time.time() + 0.3 + 0.05 * a.shells
        procs = [subprocess.Popen([sys.executable, me, "post", a.sock, f"{a.exp}{k}", str(per), yaml, str(start)],
                                  stdout=subprocess.PIPE, text=True)
                 for k in range(a.shells)]
        ends = [float(p.communicate()[0] or 0) for p in procs]
        if any(p.returncode != 0 for p in procs):
            raise SystemExit("submit_latency: API submissions failed")
        rf.append(max(ends) - start)
    n = per * a.shells
    a_rate = [n / t for t in am]
    r_rate = [n / t for t in rf]
    a_med, r_med = pct(a_rate, 50), pct(r_rate, 50)
    add_row(a.rows, section="submissions", what=f"submissions/s from {a.shells} shell{'s' if a.shells > 1 else ''} (vs the API)",
            unit="runs/s", amlfs=a_med, amlfs_p99=pct(a_rate, 1), reference=r_med, reference_p99=pct(r_rate, 1),
            ratio=a_med / r_med, n=a.reps,
            note=f"{n} submissions a try; bash `printf > job.yaml` loops vs python POST loops on kept-alive connections")


def cmd_post(sock, exp, count, yaml, start):
    api = Api(sock)
    api.json("GET", "/v1/workspace")  # connected before the start
    wait = start - time.time()
    if wait > 0:
        time.sleep(wait)
    for _ in range(count):
        api.json("POST", f"/v1/experiments/{exp}/runs", {"yaml": yaml, "filename": "job.yaml"})
    print(time.time())


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "post":
        cmd_post(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], float(sys.argv[6]))
        return
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["latency", "slurm", "rate"])
    p.add_argument("--rows", required=True)
    p.add_argument("--mnt", required=True)
    p.add_argument("--sock", required=True)
    p.add_argument("--exp", required=True)
    p.add_argument("--n", type=int, default=10)
    p.add_argument("--compute", default="local")
    p.add_argument("--partition", default="")
    p.add_argument("--shells", type=int, default=1)
    p.add_argument("--count", type=int, default=200)
    p.add_argument("--reps", type=int, default=3)
    a = p.parse_args()
    {"latency": cmd_latency, "slurm": cmd_slurm, "rate": cmd_rate}[a.mode](a)


if __name__ == "__main__":
    main()
