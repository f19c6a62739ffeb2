#!/usr/bin/env bash
# test_mlflow_runs.sh: runs made through MLflow's runs/create, with the JSON MLflow's Python client sends:
# a notebook's interactive run (owner's token) from Running to each end and through a server restart, a
# job's nested runs ending with it, nesting bounds, the job token's reach, the Default experiment, and
# the datasets of log_input.
. "$(dirname "$0")/../lib/e2e.sh"

mount_ws || exit 1
make_host_env host || exit 1

MLFLOW_CLIENT=$ROOT/tests/lib/mlflow_like.py

. "$ROOT/tests/lib/mlflow_api.sh"
api() { mlflow_api "$@"; } # METHOD ENDPOINT BODY TOKEN: "STATUS BODY"
# JSON PYTHON-EXPR: evaluates the expression with `a` the answer's JSON (after "STATUS ").
field() { python3 -c 'import json,sys; a=json.loads(sys.argv[1].split(" ",1)[1]); print(eval(sys.argv[2]))' "$1" "$2"; }
status_of() { echo "${1%% *}"; }

experiment_id() { # NAME: what mlflow.set_experiment(NAME) finds
    field "$(api GET experiments/get-by-name "experiment_name=$1" "$(owner_token)")" 'a["experiment"]["experiment_id"]'
}

# What fluent.start_run() sends from a notebook: create_run with the tags context_registry resolves.
create_body() { # EXPERIMENT_ID RUN_NAME [PARENT]
    python3 - "$@" <<'PY'
import json, sys, time
exp, name = sys.argv[1], sys.argv[2]
tags = {"mlflow.user": "me", "mlflow.source.name": "/usr/lib/python3/dist-packages/ipykernel_launcher.py",
        "mlflow.source.type": "NOTEBOOK", "mlflow.runName": name}
if len(sys.argv) > 3:
    tags["mlflow.parentRunId"] = sys.argv[3]
print(json.dumps({"experiment_id": exp, "user_id": "me", "start_time": int(time.time() * 1000),
                  "tags": [{"key": k, "value": v} for k, v in tags.items()], "run_name": name}))
PY
}

create_run() { # EXPERIMENT_ID RUN_NAME [PARENT] -> run id
    local out
    out=$(api POST runs/create "$(create_body "$@")" "$(owner_token)")
    [ "$(status_of "$out")" = 200 ] || { echo "create_run: $out" >&2; return 1; }
    field "$out" 'a["run"]["info"]["run_id"]'
}

end_run() { # RUN_ID STATUS
    api POST runs/update "{\"run_uuid\": \"$1\", \"run_id\": \"$1\", \"status\": \"$2\", \"end_time\": $(date +%s000)}" \
        "$(owner_token)"
}

t_a_notebooks_run_is_running_until_its_client_ends_it() {
    mkdir "$MNT/experiments/notebook"
    exp=$(experiment_id notebook) || fail "experiment id"
    out=$(api POST runs/create "$(create_body "$exp" nb-run)" "$(owner_token)")
    [ "$(status_of "$out")" = 200 ] || fail "create_run: $out"
    [ "$(field "$out" 'a["run"]["info"]["status"]')" = RUNNING ] || fail "status in the answer: $out"
    [ "$(field "$out" 'a["run"]["info"]["run_name"]')" = nb-run ] || fail "run_name: $out"
    [ "$(field "$out" 'a["run"]["info"]["experiment_id"]')" = "$exp" ] || fail "experiment_id: $out"
    id=$(field "$out" 'a["run"]["info"]["run_id"]')
    [[ $id =~ ^[A-Za-z0-9][A-Za-z0-9_-]*$ ]] || fail "a run id MLflow refuses: $id"
    [ "$(cat "$MNT/runs/$id/status")" = Running ] || fail "runs/$id/status: $(cat "$MNT/runs/$id/status")"
    [ -d "$MNT/experiments/notebook/runs/$id" ] || fail "not in the experiment's runs/: $(ls "$MNT/experiments/notebook/runs")"
    python3 -c 'import json,sys; i=json.load(open(sys.argv[1])); assert i["kind"] == "interactive" and i["compute"] is None and i["parent"] is None and i["children"] == [] and i["display_name"] == "nb-run", i' \
        "$MNT/runs/$id/info.json" || fail "info.json: $(cat "$MNT/runs/$id/info.json")"
    grep -q '"mlflow.source.type": "NOTEBOOK"' "$MNT/runs/$id/tags.json" || fail "tags.json: $(cat "$MNT/runs/$id/tags.json")"
    out=$(api POST runs/log-metric "{\"run_id\": \"$id\", \"key\": \"loss\", \"value\": 0.5, \"timestamp\": $(date +%s000), \"step\": 0}" "$(owner_token)")
    [ "$(status_of "$out")" = 200 ] || fail "log_metric: $out"
    wait_for 5 grep -q '^0 0.5 ' "$MNT/runs/$id/metrics/loss" || fail "metrics/loss: $(cat "$MNT/runs/$id/metrics/loss")"
    [ "$(cat "$MNT/runs/$id/status")" = Running ] || fail "a metric ended it: $(cat "$MNT/runs/$id/status")"
    out=$(end_run "$id" FINISHED)
    [ "$(field "$out" 'a["run_info"]["status"]')" = FINISHED ] || fail "end_run: $out"
    wait_status 5 "$MNT/runs/$id/status" Completed || fail "after FINISHED: $(cat "$MNT/runs/$id/status")"
    # FAILED and KILLED in MLflow's words are Failed and Canceled.
    for pair in FAILED:Failed KILLED:Canceled; do
        other=$(create_run "$exp" "nb-${pair%%:*}") || fail "create"
        end_run "$other" "${pair%%:*}" > /dev/null
        wait_status 5 "$MNT/runs/$other/status" "${pair#*:}" || fail "after ${pair%%:*}: $(cat "$MNT/runs/$other/status")"
    done
    # Ended, it stays ended: a late end_run is answered with how it ended.
    out=$(end_run "$id" KILLED)
    [ "$(status_of "$out")" = 200 ] && [ "$(field "$out" 'a["run_info"]["status"]')" = FINISHED ] || fail "a late end_run: $out"
}

t_a_restart_keeps_an_interactive_run_running_and_a_cancel_ends_it() {
    mkdir "$MNT/experiments/nb-restart"
    exp=$(experiment_id nb-restart) || fail "experiment id"
    id=$(create_run "$exp" long) || fail "create"
    pid=$(server_pid)
    kill -9 "$pid" || fail "kill"
    wait_for 5 sh -c "! kill -0 $pid" || fail "server still alive"
    "$AMLFS_SERVER" --data-dir "$DATA" || fail "restart"
    answers() { [ "$(status_of "$(api GET runs/get "run_id=$id" "$(owner_token)")")" = 200 ]; }
    wait_for 10 answers || fail "MLflow's API does not answer after the restart"
    out=$(api GET runs/get "run_id=$id" "$(owner_token)")
    [ "$(field "$out" 'a["run"]["info"]["status"]')" = RUNNING ] || fail "after the restart: $out"
    [ "$(cat "$MNT/runs/$id/status")" = Running ] || fail "status after the restart: $(cat "$MNT/runs/$id/status")"
    echo cancel > "$MNT/runs/$id/ctl" || fail "cancel"
    wait_status 5 "$MNT/runs/$id/status" Canceled || fail "after cancel: $(cat "$MNT/runs/$id/status")"
    # The notebook ending it afterwards is no error, and changes nothing.
    out=$(end_run "$id" FINISHED)
    [ "$(status_of "$out")" = 200 ] && [ "$(field "$out" 'a["run_info"]["status"]')" = KILLED ] || fail "end_run after cancel: $out"
}

t_a_jobs_nested_runs_end_with_it() {
    mkdir "$MNT/experiments/nested"
    cp "$MLFLOW_CLIENT" "$MNT/experiments/nested/"
    id=$(submit nested <<Y
command: >-
  printf %s "\$MLFLOW_TRACKING_TOKEN" > outputs/token &&
  python3 mlflow_like.py start nested:fold-0:$T/child0 metric:loss:0.5 end
  nested:fold-1:$T/child1 metric:loss:0.25 nested:deep:$T/child2 metric:acc:0.9 wait:$T/go-nested
environment: host
Y
) || fail "submit"
    wait_for 20 test -s "$T/child2" || fail "no nested runs: $(cat "$MNT/runs/$id/log")"
    c0=$(cat "$T/child0") c1=$(cat "$T/child1") c2=$(cat "$T/child2")
    wait_status 5 "$MNT/runs/$c0/status" Completed || fail "fold-0 ended FINISHED: $(cat "$MNT/runs/$c0/status")"
    [ "$(cat "$MNT/runs/$c1/status")" = Running ] && [ "$(cat "$MNT/runs/$c2/status")" = Running ] || fail "children not running"
    wait_for 5 grep -q '^0 0.25 ' "$MNT/runs/$c1/metrics/loss" || fail "fold-1's metric"
    python3 - "$MNT/runs/$id/info.json" "$MNT/runs/$c1/info.json" "$c0" "$c1" "$c2" "$id" <<'PY' || fail "info.json: $(cat "$MNT/runs/$id/info.json")"
import json, sys
parent, child = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
c0, c1, c2, pid = sys.argv[3:7]
assert parent["children"] == [c0, c1] and parent["kind"] == "job", parent
assert child["parent"] == pid and child["children"] == [c2] and child["kind"] == "interactive", child
PY
    grep -q "\"mlflow.parentRunId\": \"$id\"" "$MNT/runs/$c1/tags.json" || fail "tags: $(cat "$MNT/runs/$c1/tags.json")"
    # The job's token reaches its run and the runs nested in it, nothing else.
    tok=$(cat "$MNT/runs/$id/outputs/token")
    other=$(printf 'command: echo other\nenvironment: host\n' | submit nested) || fail "submit other"
    out=$(api GET runs/get "run_id=$c2" "$tok"); [ "$(status_of "$out")" = 200 ] || fail "a grandchild: $out"
    out=$(api GET runs/get "run_id=$other" "$tok"); [ "$(status_of "$out")" = 403 ] || fail "another run: $out"
    out=$(api POST runs/create "$(create_body "$(experiment_id nested)" x "$other")" "$tok")
    [ "$(status_of "$out")" = 403 ] && [[ $out == *PERMISSION_DENIED* ]] || fail "nesting in another run: $out"
    out=$(api POST runs/search "{\"experiment_ids\": [\"$(experiment_id nested)\"]}" "$tok")
    [ "$(field "$out" 'sorted(r["info"]["run_id"] for r in a["runs"])')" = "$(python3 -c 'import sys; print(sorted(sys.argv[1:]))' "$id" "$c0" "$c1" "$c2")" ] ||
        fail "search with the job's token: $out"
    touch "$T/go-nested"
    wait_status 20 "$MNT/runs/$id/status" Completed || fail "the job: $(cat "$MNT/runs/$id/status")"
    wait_status 5 "$MNT/runs/$c1/status" Completed || fail "fold-1 did not end with its parent: $(cat "$MNT/runs/$c1/status")"
    wait_status 5 "$MNT/runs/$c2/status" Completed || fail "deep did not end: $(cat "$MNT/runs/$c2/status")"
    # A job that fails takes its running children with it, saying why.
    id=$(printf 'command: python3 mlflow_like.py start nested:f:%s && exit 3\nenvironment: host\n' "$T/childf" | submit nested) ||
        fail "submit failing"
    wait_status 20 "$MNT/runs/$id/status" Failed || fail "the failing job: $(cat "$MNT/runs/$id/status")"
    cf=$(cat "$T/childf")
    wait_status 5 "$MNT/runs/$cf/status" Failed || fail "its child: $(cat "$MNT/runs/$cf/status")"
    grep -q "its parent run $id ended Failed" "$MNT/runs/$cf/info.json" || fail "the child's error: $(cat "$MNT/runs/$cf/info.json")"
}

t_nesting_is_bounded_and_an_ended_parent_takes_no_children() {
    mkdir "$MNT/experiments/deep"
    exp=$(experiment_id deep) || fail "experiment id"
    root=$(create_run "$exp" root) || fail "root"
    at=$root
    for i in $(seq 1 16); do
        at=$(create_run "$exp" "level-$i" "$at") || fail "level $i"
    done
    out=$(api POST runs/create "$(create_body "$exp" too-deep "$at")" "$(owner_token)")
    [ "$(status_of "$out")" = 400 ] && [ "$(field "$out" 'a["error_code"]')" = INVALID_PARAMETER_VALUE ] &&
        [[ $out == *"at most 16 levels"* ]] || fail "a 17th level: $out"
    # Ending the root ends the whole chain.
    end_run "$root" KILLED > /dev/null
    wait_status 5 "$MNT/runs/$at/status" Canceled || fail "the deepest run: $(cat "$MNT/runs/$at/status")"
    out=$(api POST runs/create "$(create_body "$exp" late "$root")" "$(owner_token)")
    [ "$(status_of "$out")" = 400 ] && [[ $out == *"has ended"* ]] || fail "a child of an ended run: $out"
    out=$(api POST runs/create "$(create_body "$exp" orphan no-such-run)" "$(owner_token)")
    [ "$(status_of "$out")" = 404 ] || fail "a missing parent: $out"
}

t_the_default_experiment_is_refused_naming_what_to_set() {
    out=$(api POST runs/create "$(create_body 0 nb)" "$(owner_token)")
    [ "$(status_of "$out")" = 400 ] && [ "$(field "$out" 'a["error_code"]')" = INVALID_PARAMETER_VALUE ] &&
        [[ $out == *MLFLOW_EXPERIMENT_NAME* ]] || fail "experiment 0: $out"
    out=$(api GET experiments/get "experiment_id=0" "$(owner_token)")
    [ "$(status_of "$out")" = 404 ] && [[ $out == *MLFLOW_EXPERIMENT_NAME* ]] || fail "experiments/get 0: $out"
}

t_log_input_records_datasets() {
    mkdir "$MNT/experiments/inputs"
    exp=$(experiment_id inputs) || fail "experiment id"
    id=$(create_run "$exp" with-data) || fail "create"
    # What mlflow.log_input(mlflow.data.from_pandas(df, source="/data/iris.csv"), context="training") sends.
    body=$(python3 - "$id" <<'PY'
import json, sys
schema = json.dumps({"mlflow_colspec": [{"type": "double", "name": "sepal_length", "required": True}]})
def one(name, digest, context):
    return {"tags": [{"key": "mlflow.data.context", "value": context}],
            "dataset": {"name": name, "digest": digest, "source_type": "local",
                        "source": json.dumps({"uri": "/data/%s.csv" % name}), "schema": schema,
                        "profile": json.dumps({"num_rows": 150, "num_elements": 750})}}
print(json.dumps({"run_id": sys.argv[1], "datasets": [one("iris", "8a3c2b1f", "training"), one("iris-test", "77aa01ce", "testing")]}))
PY
)
    out=$(api POST runs/log-inputs "$body" "$(owner_token)"); [ "$(status_of "$out")" = 200 ] || fail "log_inputs: $out"
    out=$(api POST runs/log-inputs "$body" "$(owner_token)"); [ "$(status_of "$out")" = 200 ] || fail "log_inputs again: $out"
    python3 - "$MNT/runs/$id/info.json" <<'PY' || fail "info.json: $(cat "$MNT/runs/$id/info.json")"
import json, sys
d = json.load(open(sys.argv[1]))["datasets"]
assert [x["name"] for x in d] == ["iris", "iris-test"], d          # logged twice, kept once
assert d[0]["digest"] == "8a3c2b1f" and d[0]["source_type"] == "local" and json.loads(d[0]["source"])["uri"] == "/data/iris.csv"
assert d[0]["tags"] == {"mlflow.data.context": "training"} and json.loads(d[1]["profile"])["num_rows"] == 150
PY
    out=$(api GET runs/get "run_id=$id" "$(owner_token)")
    [ "$(field "$out" '[(i["dataset"]["name"], i["tags"][0]["value"]) for i in a["run"]["inputs"]["dataset_inputs"]]')" =         "[('iris', 'training'), ('iris-test', 'testing')]" ] || fail "get_run's inputs: $out"
    out=$(api POST runs/log-inputs "{\"run_id\": \"$id\", \"datasets\": [{\"dataset\": {\"name\": \"x\", \"digest\": \"$(printf 'a%.0s' $(seq 40))\", \"source_type\": \"local\", \"source\": \"{}\"}}]}" "$(owner_token)")
    [ "$(status_of "$out")" = 400 ] && [ "$(field "$out" 'a["error_code"]')" = INVALID_PARAMETER_VALUE ] || fail "a 40-character digest: $out"
    out=$(api POST runs/log-inputs "{\"run_id\": \"$id\", \"datasets\": [{\"dataset\": {\"name\": \"x\"}}]}" "$(owner_token)")
    [ "$(status_of "$out")" = 400 ] || fail "a dataset without digest: $out"
}

# MLflow 3's mlflow.<flavor>.log_model inside a run: create the logged model, write its files to the model's
# artifact_uri, finalize it, record it as the run's output; then read it back as MLflow's clients do.
t_mlflow3_log_model_keeps_the_model_in_the_runs_outputs() {
    mkdir "$MNT/experiments/models"
    exp=$(experiment_id models) || fail "experiment id"
    id=$(create_run "$exp" training) || fail "create"
    tok=$(owner_token)
    python3 - "$(cat "$DATA/mlflow.port")" "$tok" "$exp" "$id" > "$T/model-id" <<'PY' || fail "log_model: $(cat "$T/model-id")"
import json, os, sys, urllib.request, urllib.error, urllib.parse
port, token, exp, run = sys.argv[1:5]
def call(method, endpoint, body=None):
    req = urllib.request.Request("http://127.0.0.1:%s/api/2.0/mlflow/%s" % (port, endpoint), method=method,
                                 data=None if method == "GET" else json.dumps(body or {}).encode(),
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
status, a = call("POST", "logged-models", {"experiment_id": exp, "name": "model", "model_type": "sklearn",
    "source_run_id": run, "params": [{"key": "alpha", "value": "0.5"}],
    "tags": [{"key": "mlflow.user", "value": "me"}, {"key": "mlflow.source.type", "value": "NOTEBOOK"}]})
assert status == 200, (status, a)
info = a["model"]["info"]
mid = info["model_id"]
assert mid.startswith("m-") and info["status"] == "LOGGED_MODEL_PENDING" and info["source_run_id"] == run, info
assert info["experiment_id"] == exp and info["name"] == "model" and info["model_type"] == "sklearn", info
# The client's LocalArtifactRepository copies the model's files to its artifact_uri.
where = urllib.parse.urlparse(info["artifact_uri"]).path
os.makedirs(where)
with open(os.path.join(where, "MLmodel"), "w") as f:
    f.write("flavors:\n  sklearn: {}\nmodel_id: %s\n" % mid)
assert call("PATCH", "logged-models/%s/tags" % mid, {"tags": [{"key": "stage", "value": "dev"}]})[0] == 200
assert call("POST", "logged-models/%s/params" % mid, {"model_id": mid, "params": [{"key": "beta", "value": "1"}]})[0] == 200
status, a = call("POST", "logged-models/%s/params" % mid, {"params": [{"key": "alpha", "value": "0.7"}]})
assert status == 400 and a["error_code"] == "INVALID_PARAMETER_VALUE", (status, a)
status, a = call("PATCH", "logged-models/" + mid, {"model_id": mid, "status": "LOGGED_MODEL_READY"})
assert status == 200 and a["model"]["info"]["status"] == "LOGGED_MODEL_READY", (status, a)
assert call("POST", "runs/outputs", {"run_id": run, "models": [{"model_id": mid, "step": 0}]})[0] == 200
status, a = call("GET", "logged-models/" + mid)
m = a["model"]
assert {t["key"]: t["value"] for t in m["info"]["tags"]} == {"mlflow.user": "me", "mlflow.source.type": "NOTEBOOK", "stage": "dev"}, m
assert {p["key"]: p["value"] for p in m["data"]["params"]} == {"alpha": "0.5", "beta": "1"}, m
assert call("DELETE", "logged-models/%s/tags/stage" % mid)[0] == 200
assert call("DELETE", "logged-models/%s/tags/stage" % mid)[0] == 404
status, a = call("POST", "logged-models/search", {"experiment_ids": [exp], "max_results": 50})
assert status == 200 and [x["info"]["model_id"] for x in a["models"]] == [mid], a
status, a = call("GET", "runs/get?run_id=" + run)
assert a["run"]["outputs"] == {"model_outputs": [{"model_id": mid, "step": 0}]}, a
status, a = call("POST", "logged-models", {"experiment_id": exp, "name": "loose"})
assert status == 400 and "inside a run" in a["message"], (status, a)
status, a = call("GET", "logged-models/m-nope")
assert status == 404 and a["error_code"] == "RESOURCE_DOES_NOT_EXIST", (status, a)
print(mid)
PY
    mid=$(cat "$T/model-id")
    grep -q "^model_id: $mid" "$MNT/runs/$id/outputs/models/$mid/MLmodel" || fail "the model's files in outputs/: $(ls -R "$MNT/runs/$id/outputs")"
    # A job's token reaches the models of its own run only.
    other=$(printf 'command: printf %%s "$MLFLOW_TRACKING_TOKEN" > outputs/token\nenvironment: host\n' | submit models) || fail "submit"
    wait_status 20 "$MNT/runs/$other/status" Completed || fail "the job"
    out=$(api GET "logged-models/$mid" "" "$(cat "$MNT/runs/$other/outputs/token")")
    [ "$(status_of "$out")" = 403 ] || fail "another run's model with a job's token: $out"
}

run_cases
