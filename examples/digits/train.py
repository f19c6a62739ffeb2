"""Train a small neural network on scikit-learn's bundled digits data (no download needed).

Prints one line per epoch so `tail -f runs/ID/log` shows training live, logs each epoch's loss and
accuracies to the run's metrics (runs/ID/metrics/NAME, through the AMLFS_METRICS file: no SDK), and
saves the model and its final scores under ./outputs, which the run keeps.
"""
import argparse
import json
import os
import pickle
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler


def log(name, value, step=None):
    """One metric point for amlfs (README "Metrics"); a no-op outside a run."""
    if "AMLFS_METRICS" in os.environ:
        with open(os.environ["AMLFS_METRICS"], "a") as f:
            f.write(json.dumps({"name": name, "value": float(value), "step": step}) + "\n")


parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--hidden", type=int, default=64)
parser.add_argument("--learning-rate", type=float, default=0.01)
args = parser.parse_args()

digits = load_digits()
x_train, x_test, y_train, y_test = train_test_split(
    digits.data, digits.target, test_size=0.25, random_state=0, stratify=digits.target)
scaler = StandardScaler().fit(x_train)
x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
print(f"digits: {len(x_train)} training and {len(x_test)} test images of 8x8 pixels", flush=True)

model = MLPClassifier(hidden_layer_sizes=(args.hidden,), learning_rate_init=args.learning_rate,
                      random_state=0)
classes = np.unique(digits.target)
rng = np.random.default_rng(0)
for epoch in range(1, args.epochs + 1):
    start = time.time()
    order = rng.permutation(len(x_train))
    for i in range(0, len(order), 64):
        batch = order[i:i + 64]
        model.partial_fit(x_train[batch], y_train[batch], classes=classes)
    train_acc = model.score(x_train, y_train)
    test_acc = model.score(x_test, y_test)
    print(f"epoch {epoch:3d}/{args.epochs}  loss {model.loss_:.4f}  "
          f"train_acc {train_acc:.4f}  test_acc {test_acc:.4f}  ({time.time() - start:.2f}s)", flush=True)
    for name, value in (("loss", model.loss_), ("train_acc", train_acc), ("test_acc", test_acc)):
        log(name, value, epoch)
    time.sleep(0.2)  # a real job takes longer per epoch; this keeps the demo watchable

os.makedirs("outputs", exist_ok=True)
with open("outputs/model.pkl", "wb") as f:
    pickle.dump({"scaler": scaler, "model": model}, f)
with open("outputs/scores.json", "w") as f:
    json.dump({"test_accuracy": test_acc, "epochs": args.epochs}, f)
print(f"final test accuracy {test_acc:.4f}; model saved to outputs/model.pkl", flush=True)
