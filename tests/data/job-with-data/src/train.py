"""Reads every shard of a data folder and a labels file given as paths, checks they cannot be changed,
and writes a small model into the output folder."""
import argparse
import errno
import json
import os
import stat

parser = argparse.ArgumentParser()
parser.add_argument("--data", required=True)
parser.add_argument("--labels", required=True)
parser.add_argument("--epochs", type=int, default=1)
parser.add_argument("--seed", type=int)
parser.add_argument("--model-dir", required=True)
args = parser.parse_args()

rows = 0
for name in sorted(os.listdir(args.data)):
    path = os.path.join(args.data, name)
    if name.endswith(".csv") and name != "labels.csv":
        with open(path) as f:
            rows += sum(1 for _ in f)
        print(f"read {name}: read-only {not os.stat(path).st_mode & 0o222}")
with open(args.labels) as f:
    labels = [line.strip() for line in f if line.strip()]
# A job must not change its inputs: even a root job's write into them is refused by the system.
for target in (os.path.join(args.data, "scratch.tmp"), args.labels):
    try:
        with open(target, "a") as f:
            f.write("x")
        print(f"wrote into input {os.path.basename(target)}")
    except OSError as e:
        print(f"write into input {os.path.basename(target)}: {errno.errorcode[e.errno]}")
print(f"rows {rows} labels {len(labels)} epochs {args.epochs} seed {args.seed}")
print(f"data is absolute: {os.path.isabs(args.data)}; model dir exists: {os.path.isdir(args.model_dir)}")
with open(os.path.join(args.model_dir, "model.json"), "w") as f:
    json.dump({"rows": rows, "labels": labels, "epochs": args.epochs}, f)
print("model written")
