"""Reads every CSV export of a raw folder (customer,date,spend), flags the rows that fall on a holiday
from a published calendar (date,name), and writes features.csv and schema.json into the output folder."""
import argparse
import csv
import json
import os

parser = argparse.ArgumentParser()
parser.add_argument("--raw", required=True)
parser.add_argument("--holidays", required=True)
parser.add_argument("--min-rows", type=int, default=1)
parser.add_argument("--out", required=True)
args = parser.parse_args()

with open(args.holidays) as f:
    holidays = {r["date"] for r in csv.DictReader(f)}
rows, seen = [], []
for root, _, files in sorted(os.walk(args.raw)):
    for name in sorted(files):
        seen.append(os.path.relpath(os.path.join(root, name), args.raw))
        if name.endswith(".csv"):
            with open(os.path.join(root, name)) as f:
                rows += list(csv.DictReader(f))
print("raw files: " + " ".join(seen))
if len(rows) < args.min_rows:
    raise SystemExit(f"only {len(rows)} rows, fewer than {args.min_rows}")
with open(os.path.join(args.out, "features.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["customer", "spend", "on_holiday"])
    for r in rows:
        w.writerow([r["customer"], r["spend"], int(r["date"] in holidays)])
with open(os.path.join(args.out, "schema.json"), "w") as f:
    json.dump({"columns": ["customer", "spend", "on_holiday"], "rows": len(rows)}, f)
print(f"features: {len(rows)} rows, {sum(r['date'] in holidays for r in rows)} on a holiday")
