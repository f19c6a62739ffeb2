"""Scores a model folder (model.json: one weight per feature and a bias) on a folder of CSV shards
(features..., label), writes the metrics as one JSON file and a report per class into a folder."""
import argparse
import csv
import json
import os

parser = argparse.ArgumentParser()
parser.add_argument("--model", required=True)
parser.add_argument("--test-data", required=True)
parser.add_argument("--threshold", type=float, default=0.5)
parser.add_argument("--max-rows", type=int)
parser.add_argument("--metrics", required=True)
parser.add_argument("--reports", required=True)
args = parser.parse_args()

with open(os.path.join(args.model, "model.json")) as f:
    model = json.load(f)
rows = []
for name in sorted(os.listdir(args.test_data)):
    if name.endswith(".csv"):
        with open(os.path.join(args.test_data, name)) as f:
            rows += [[float(v) for v in r] for r in csv.reader(f) if r and not r[0].startswith("#")]
if args.max_rows:
    rows = rows[: args.max_rows]
per_class = {0: [0, 0], 1: [0, 0]}
for *features, label in rows:
    score = sum(w * x for w, x in zip(model["weights"], features)) + model["bias"]
    predicted = 1 if score >= args.threshold else 0
    per_class[int(label)][0] += predicted == int(label)
    per_class[int(label)][1] += 1
correct = sum(c for c, _ in per_class.values())
metrics = {"rows": len(rows), "accuracy": round(correct / len(rows), 4), "split": os.environ.get("EVAL_SPLIT")}
print(f"model {model['name']} on {len(rows)} rows: accuracy {metrics['accuracy']}")
print(f"metrics file's folder exists: {os.path.isdir(os.path.dirname(args.metrics))}")
with open(args.metrics, "w") as f:
    json.dump(metrics, f)
for label, (c, n) in per_class.items():
    with open(os.path.join(args.reports, f"class-{label}.txt"), "w") as f:
        f.write(f"class {label}: {c} of {n} right\n")
