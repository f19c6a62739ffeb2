"""Reads every kind of input a job can have (a folder of the experiment, a registered data asset, a
datastore folder and a file fetched over HTTPS) and writes a small model into its output folder."""
import argparse
import csv
import glob
import json
import os

parser = argparse.ArgumentParser()
parser.add_argument("--shards", required=True)
parser.add_argument("--vocab", required=True)
parser.add_argument("--events", required=True)
parser.add_argument("--holidays", required=True)
parser.add_argument("--learning-rate", type=float, default=0.1)
parser.add_argument("--model-dir", required=True)
args = parser.parse_args()

customers = []
for path in sorted(glob.glob(os.path.join(args.shards, "*.csv"))):
    with open(path) as f:
        customers += list(csv.DictReader(f))
with open(args.vocab) as f:
    vocab = [w.strip() for w in f if w.strip()]
events = 0
for root, _, files in os.walk(args.events):
    for name in files:
        with open(os.path.join(root, name)) as f:
            events += sum(1 for _ in f)
with open(args.holidays) as f:
    holidays = list(csv.DictReader(f))

print(f"customers {len(customers)} vocab {len(vocab)} events {events} holidays {len(holidays)}")
print(f"learning rate {args.learning_rate}")
for name, path in vars(args).items():
    if isinstance(path, str) and os.path.isabs(path) and name != "model_dir":
        print(f"{name} read-only: {not os.stat(path).st_mode & 0o222}")
model = {"customers": len(customers), "vocab": vocab, "events": events, "holidays": len(holidays),
         "learning_rate": args.learning_rate}
with open(os.path.join(args.model_dir, "model.json"), "w") as f:
    json.dump(model, f)
print("model written")
