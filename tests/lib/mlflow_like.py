#!/usr/bin/env python3
# mlflow_like.py: the HTTP calls MLflow's Python client makes (mlflow/tracking/fluent.py and
# mlflow/store/tracking/rest_store.py), with the same methods, paths and JSON, from the same environment
# variables, in the standard library only (mlflow itself cannot be installed here). A test job runs it as
# its command: `python3 mlflow_like.py STEP...`, each STEP one call (see main).
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

API = "/api/2.0/mlflow/"


def now_ms():
    return int(time.time() * 1000)


def call(method, endpoint, body=None, token=None):
    """One request as rest_utils.call_endpoint makes it: a GET sends its fields as the query, a POST as
    JSON. Returns (HTTP status, answer as JSON)."""
    base = os.environ["MLFLOW_TRACKING_URI"].rstrip("/")
    url = base + API + endpoint
    headers = {"User-Agent": "mlflow-python-client/2.16.0"}
    token = os.environ.get("MLFLOW_TRACKING_TOKEN") if token is None else token
    if token:
        headers["Authorization"] = "Bearer " + token
    data = None
    if method == "GET":
        if body:
            url += "?" + urllib.parse.urlencode(body, doseq=True)
    else:
        data = json.dumps(body or {}).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        text = e.read()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, {"raw": text.decode(errors="replace")}


def ok(status, answer, what):
    if status != 200:
        sys.exit("%s: HTTP %d %s" % (what, status, json.dumps(answer)))
    return answer


class Run:
    def __init__(self):
        self.run_id = None
        self.stack = []  # fluent's _active_run_stack: the runs start_run made, innermost last

    def start_nested(self, name):
        """fluent.start_run(nested=True, run_name=NAME) inside a run: create_run in the experiment of the
        environment with the tags context_registry resolves, mlflow.parentRunId the active run's id."""
        tags = {"mlflow.parentRunId": self.run_id, "mlflow.runName": name, "mlflow.user": "job",
                "mlflow.source.name": "mlflow_like.py", "mlflow.source.type": "LOCAL"}
        body = {"experiment_id": os.environ["MLFLOW_EXPERIMENT_ID"], "user_id": "job", "start_time": now_ms(),
                "tags": [{"key": k, "value": v} for k, v in tags.items()], "run_name": name}
        run = ok(*call("POST", "runs/create", body), "create_run")["run"]
        self.stack.append(self.run_id)
        self.run_id = run["info"]["run_id"]
        return self.run_id

    def start_run(self):
        """fluent.start_run() with MLFLOW_RUN_ID set: get the run, mark it RUNNING, get it again."""
        run_id = os.environ.pop("MLFLOW_RUN_ID")
        run = ok(*call("GET", "runs/get", {"run_uuid": run_id, "run_id": run_id}), "get_run")["run"]
        body = {"run_uuid": run_id, "run_id": run_id, "status": "RUNNING"}
        if run["info"].get("end_time") is not None:
            body["end_time"] = run["info"]["end_time"]
        ok(*call("POST", "runs/update", body), "update_run")
        ok(*call("GET", "runs/get", {"run_uuid": run_id, "run_id": run_id}), "get_run")
        self.run_id = run_id

    def log_metric(self, key, value, step=None):
        ok(*call("POST", "runs/log-metric", {"run_uuid": self.run_id, "run_id": self.run_id, "key": key,
                                             "value": value, "timestamp": now_ms(), "step": step or 0}),
           "log_metric")

    def log_batch(self, metrics=(), params=(), tags=()):
        body = {"run_id": self.run_id}
        if metrics:
            body["metrics"] = [{"key": k, "value": v, "timestamp": now_ms(), "step": s} for k, v, s in metrics]
        if params:
            body["params"] = [{"key": k, "value": str(v)} for k, v in params]
        if tags:
            body["tags"] = [{"key": k, "value": str(v)} for k, v in tags]
        ok(*call("POST", "runs/log-batch", body), "log_batch")

    def log_param(self, key, value):
        ok(*call("POST", "runs/log-parameter", {"run_uuid": self.run_id, "run_id": self.run_id, "key": key,
                                                "value": str(value)}), "log_param")

    def set_tag(self, key, value):
        ok(*call("POST", "runs/set-tag", {"run_uuid": self.run_id, "run_id": self.run_id, "key": key,
                                          "value": str(value)}), "set_tag")

    def log_model(self, artifact_path):
        """What mlflow.<flavor>.log_model records once the model's files are written (record_logged_model)."""
        model = {"artifact_path": artifact_path, "run_id": self.run_id,
                 "utc_time_created": time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime()),
                 "flavors": {"python_function": {"loader_module": "mlflow.sklearn", "python_version": "3.11.2"}}}
        ok(*call("POST", "runs/log-model", {"run_id": self.run_id, "model_json": json.dumps(model)}), "log_model")

    def end_run(self, status="FINISHED"):
        ok(*call("POST", "runs/update", {"run_uuid": self.run_id, "run_id": self.run_id, "status": status,
                                         "end_time": now_ms()}), "end_run")
        if self.stack:
            self.run_id = self.stack.pop()


def main(steps):
    """Steps: start | nested:NAME[:FILE] | metric:KEY:VALUE[:STEP] | batch:KEY:V1,V2,... (steps 0..) |
    param:KEY:VALUE | tag:KEY:VALUE | model:ARTIFACT_PATH | wait:FILE (until it exists) | touch:FILE |
    end[:STATUS] (the innermost run)."""
    run = Run()
    for step in steps:
        kind, _, rest = step.partition(":")
        if kind == "start":
            run.start_run()
        elif kind == "metric":
            parts = rest.split(":")
            run.log_metric(parts[0], float(parts[1]), int(parts[2]) if len(parts) > 2 else None)
        elif kind == "batch":
            key, values = rest.split(":")
            run.log_batch(metrics=[(key, float(v), i) for i, v in enumerate(values.split(","))])
        elif kind == "param":
            key, value = rest.split(":", 1)
            run.log_param(key, value)
        elif kind == "tag":
            key, value = rest.split(":", 1)
            run.set_tag(key, value)
        elif kind == "model":
            run.log_model(rest)
        elif kind == "wait":
            while not os.path.exists(rest):
                time.sleep(0.05)
        elif kind == "touch":
            open(rest, "a").close()
        elif kind == "nested":  # nested:NAME[:FILE] (the new run's id written to FILE)
            name, _, path = rest.partition(":")
            child = run.start_nested(name)
            if path:
                with open(path, "w") as f:
                    f.write(child)
        elif kind == "end":
            run.end_run(rest or "FINISHED")
        else:
            sys.exit("unknown step " + step)
    print("mlflow_like: done")


if __name__ == "__main__":
    main(sys.argv[1:])
