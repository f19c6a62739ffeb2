#!/usr/bin/env python3
# snapshot_bench.py: a job whose `code:` is an absolute folder of 2,000 files / 300 MB, submitted through
# the mount (first, unchanged, one file changed) vs `tar | curl` of the same bytes to the server's upload
# endpoint; and what a run's working copy of that code costs on disk.
import argparse
import hashlib
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import Api, add_row, evict, pct  # noqa: E402

SECTION = "snapshots"
FOLDERS = 20


def make_code(path, files, total, seed):
    """files files of total/files bytes in FOLDERS subfolders, each content its own (a header naming seed
    and file, then a slice of one random block): nothing is shared with another folder's files."""
    size = total // files
    block = os.urandom(size + (1 << 20))
    for i in range(files):
        d = os.path.join(path, f"d{i % FOLDERS:02d}")
        os.makedirs(d, exist_ok=True)
        head = b"seed %d file %d\n" % (seed, i)
        off = (i * 7919) % (1 << 20)
        with open(os.path.join(d, f"f{i:04d}.bin"), "wb") as f:
            f.write(head + block[off:off + size - len(head)])


def manifest(path):
    """The snapshot manifest of path (docs/api.md, Snapshots) and its files in path order."""
    entries, files = [], []
    for root, dirs, names in os.walk(path):
        dirs.sort()
        rel_root = os.path.relpath(root, path)
        if rel_root != ".":
            entries.append({"path": rel_root, "type": "dir", "mode": 493})
        for n in sorted(names):
            rel = n if rel_root == "." else f"{rel_root}/{n}"
            with open(os.path.join(root, n), "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            entries.append({"path": rel, "type": "file", "mode": 420, "size": os.path.getsize(os.path.join(root, n)),
                            "sha256": digest})
            files.append(rel)
    entries.sort(key=lambda e: e["path"].encode())
    total = sum(e.get("size", 0) for e in entries)
    return {"format": "amlfs-snapshot-1", "total_bytes": total, "file_count": len(files), "entries": entries}, files


def submit(mnt, exp, code, compute):
    """Seconds that writing job.yaml took (its close() returns once the run is submitted), and the run id."""
    yaml = f'command: "true"\nenvironment: azureml:host@latest\ncompute: azureml:{compute}\ncode: {code}\n'
    path = os.path.join(mnt, "experiments", exp, "job.yaml")
    t0 = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, yaml.encode())
    os.close(fd)
    took = time.perf_counter() - t0
    with open(os.path.join(mnt, "experiments", exp, "status")) as f:
        line = f.read().strip()
    m = re.match(r"submitted (\S+)", line)
    if not m:
        raise SystemExit(f"snapshot_bench: the submission was refused: {line}")
    return took, m.group(1)


def tar_curl(sock, path, files_list, snapshot):
    t0 = time.perf_counter()
    r = subprocess.run(["bash", "-c",
                        'set -o pipefail; tar --no-recursion -C "$1" -cf - -T "$2" | '
                        'curl -sS --fail --unix-socket "$3" -X POST -H "Content-Type: application/x-tar" '
                        '-T - "http://localhost/v1/blobs?snapshot=$4" -o /dev/null',
                        "-", path, files_list, sock, snapshot])
    took = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit("snapshot_bench: tar | curl failed")
    return took


def own_bytes(work):
    """Bytes of the regular files under work that are its own (not hard links shared with the store)."""
    own = total = 0
    for root, _dirs, names in os.walk(work):
        for n in names:
            st = os.lstat(os.path.join(root, n))
            if os.path.isfile(os.path.join(root, n)) and not os.path.islink(os.path.join(root, n)):
                total += st.st_size
                if st.st_nlink == 1:
                    own += st.st_blocks * 512
    return own, total


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", required=True)
    p.add_argument("--mnt", required=True)
    p.add_argument("--sock", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--tmp", required=True)
    p.add_argument("--exp", default="snap")
    p.add_argument("--files", type=int, default=2000)
    p.add_argument("--mb", type=int, default=300)
    p.add_argument("--first", type=int, default=3)
    p.add_argument("--again", type=int, default=5)
    p.add_argument("--parked", default="parked")
    a = p.parse_args()
    api = Api(a.sock)
    total = a.mb * 1000 * 1000
    label = f"{a.files:,} files / {a.mb} MB"
    firsts, refs = [], []
    for k in range(a.first):
        mine, theirs = os.path.join(a.tmp, f"code{k}"), os.path.join(a.tmp, f"ref{k}")
        make_code(mine, a.files, total, 2 * k)
        make_code(theirs, a.files, total, 2 * k + 1)
        m, files = manifest(theirs)
        snap = api.json("POST", "/v1/snapshots", {"manifest": m})
        if len(snap["missing"]) != a.files:
            raise SystemExit("snapshot_bench: the reference's contents were not new to the server")
        lst = theirs + ".list"
        with open(lst, "w") as f:
            f.write("\n".join(files) + "\n")
        evict([mine, theirs])
        order = [("amlfs", mine), ("ref", theirs)] if k % 2 == 0 else [("ref", theirs), ("amlfs", mine)]
        for who, path in order:
            if who == "amlfs":
                firsts.append(submit(a.mnt, a.exp, path, a.parked)[0])
            else:
                refs.append(tar_curl(a.sock, path, lst, snap["snapshot"]))
    code = os.path.join(a.tmp, f"code{a.first - 1}")
    unchanged, changed = [], []
    for i in range(a.again):
        unchanged.append(submit(a.mnt, a.exp, code, a.parked)[0])
        victim = os.path.join(code, f"d{i % FOLDERS:02d}", f"f{i:04d}.bin")
        with open(victim, "r+b") as f:
            f.write(b"changed %d\n" % i)
        changed.append(submit(a.mnt, a.exp, code, a.parked)[0])
    r_med = pct(refs, 50)

    def row(what, samples, goal, met, note, ref=True):
        med = pct(samples, 50)
        add_row(a.rows, section=SECTION, what=what, unit="ms", amlfs=med * 1000, amlfs_p99=pct(samples, 99) * 1000,
                reference=r_med * 1000 if ref else None, reference_p99=pct(refs, 99) * 1000 if ref else None,
                ratio=med / r_med if ref else None, goal=goal, met=met, n=len(samples), note=note)
    row(f"first, {label} (vs tar | curl)", firsts, "<= 1.2x ref", pct(firsts, 50) <= 1.2 * r_med,
        "close() of job.yaml: read, hash, upload, submit; both cold (page cache of the folders dropped)")
    row(f"unchanged, {label} (vs tar | curl)", unchanged, "< 50 ms", pct(unchanged, 50) < 0.05,
        "the same job.yaml saved again; folder in the page cache")
    row(f"one file changed, {label} (vs tar | curl)", changed, "", None,
        "one 150 KB file rewritten before each save; folder in the page cache")
    # A run that changes nothing: what its working copy costs on disk.
    took, rid = submit(a.mnt, a.exp, code, "local")
    deadline = time.monotonic() + 120
    while api.json("GET", f"/v1/runs/{rid}")["status"] not in ("Completed", "Failed", "Canceled"):
        if time.monotonic() > deadline:
            raise SystemExit("snapshot_bench: the run on local did not end")
        time.sleep(0.05)
    own, size = own_bytes(os.path.join(a.data, "runs", rid, "work"))
    mib = 1 << 20
    add_row(a.rows, section=SECTION, what=f"working copy of a run that changes nothing, {label}", unit="MiB",
            amlfs=own / mib, reference=0.0, goal="~ what the job changes (0)", met=own < 0.01 * total,
            n=1, note=f"disk blocks of its work/ not shared with the blob store ({size / mib:.0f} MiB of files there)")


if __name__ == "__main__":
    main()
