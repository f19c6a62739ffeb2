#!/usr/bin/env bash
# test_metrics.sh: metrics, parameters and tags of runs, live: the AMLFS_METRICS file a job appends to, and
# MLflow's tracking REST API as MLflow's Python client calls it (tests/lib/mlflow_like.py, run as the job's
# own command with the environment it is given); malformed lines and requests, tokens, 10,000 points, a
# server restart in the middle, and three runs compared.
. "$(dirname "$0")/../lib/e2e.sh"

mount_ws || exit 1
make_host_env host || exit 1

MLFLOW_CLIENT=$ROOT/tests/lib/mlflow_like.py

. "$ROOT/tests/lib/mlflow_api.sh"
api() { mlflow_api "$@"; } # METHOD ENDPOINT BODY TOKEN: "STATUS BODY"
lines_of() { [ -f "$1" ] && wc -l < "$1" || echo 0; }
has_lines() { [ "$(lines_of "$1")" -ge "$2" ]; }

t_env_file_points_are_seen_while_the_run_runs() {
    mkdir "$MNT/experiments/envfile"
    id=$(submit envfile <<Y
command: >-
  for i in 0 1 2; do echo "{\"name\": \"loss\", \"value\": 0.\$i}" >> "\$AMLFS_METRICS"; done;
  while [ ! -e $T/go1 ]; do sleep 0.05; done;
  echo '{"name": "loss", "value": 0.9, "step": 10, "timestamp": 1700000000000}' >> "\$AMLFS_METRICS";
  echo '{"name": "train/acc", "value": "NaN"}' >> "\$AMLFS_METRICS";
  echo '{"name": "train/acc", "value": "-Infinity"}' >> "\$AMLFS_METRICS";
  echo '{"name": "val acc", "value": 0.75}' >> "\$AMLFS_METRICS"
environment: host
Y
) || fail "submit"
    start=$(date +%s%N)
    wait_for 10 has_lines "$MNT/runs/$id/metrics/loss" 3 || fail "the first points never showed: $(cat "$MNT/runs/$id/info.json")"
    echo "first points visible after $(( ($(date +%s%N) - start) / 1000000 )) ms (from submission)"
    wait_status 5 "$MNT/runs/$id/status" Running || fail "the run is not running: $(cat "$MNT/runs/$id/status")"
    head -1 "$MNT/runs/$id/metrics/loss" | grep -Eq '^0 0 [0-9]{13}$' || fail "first line: $(head -1 "$MNT/runs/$id/metrics/loss")"
    touch "$T/go1"
    wait_status 20 "$MNT/runs/$id/status" Completed || fail "status: $(cat "$MNT/runs/$id/status")"
    [ "$(sed -n 4p "$MNT/runs/$id/metrics/loss")" = "10 0.9 1700000000000" ] || fail "explicit step: $(cat "$MNT/runs/$id/metrics/loss")"
    ls "$MNT/runs/$id/metrics" | sort | tr '\n' '|' | grep -qx 'loss|loss.svg|train|val acc|val acc.svg|' || fail "metrics/: $(ls "$MNT/runs/$id/metrics")"
    grep -Eq '^0 0.75 [0-9]+$' "$MNT/runs/$id/metrics/val acc" || fail "val acc: $(cat "$MNT/runs/$id/metrics/val acc")"
    grep -Eq '^0 nan [0-9]+$' "$MNT/runs/$id/metrics/train/acc" || fail "train/acc: $(cat "$MNT/runs/$id/metrics/train/acc")"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [p["step"] for p in d["loss"]] == [0,1,2,10], d; assert [p["value"] for p in d["train/acc"]] == ["NaN", "-Infinity"], d' \
        "$MNT/runs/$id/metrics.json" || fail "metrics.json: $(cat "$MNT/runs/$id/metrics.json")"
    grep -q '"points": 7' "$MNT/runs/$id/info.json" || fail "info.json: $(cat "$MNT/runs/$id/info.json")"
    # metrics.json's size is known without writing it (ls -l of a run with a million points stays quick).
    [ "$(stat -c %s "$MNT/runs/$id/metrics.json")" = "$(wc -c < "$MNT/runs/$id/metrics.json")" ] ||
        fail "metrics.json: stat says $(stat -c %s "$MNT/runs/$id/metrics.json"), it holds $(wc -c < "$MNT/runs/$id/metrics.json")"
}

# runs/ID/logs/ is the job's ./logs (az ml's user-log folder), shown while the job runs, as outputs/ is.
t_logs_folder_is_seen_while_the_run_runs() {
    mkdir "$MNT/experiments/logsdir"
    id=$(submit logsdir <<Y
command: >-
  mkdir -p logs/sub && echo "epoch 1 loss 0.5" > logs/x.txt && echo deep > logs/sub/y.txt;
  while [ ! -e $T/logs-go ]; do sleep 0.05; done;
  echo "epoch 2 loss 0.25" >> logs/x.txt
environment: host
Y
) || fail "submit"
    wait_for 10 grep -q "epoch 1" "$MNT/runs/$id/logs/x.txt" || fail "logs/x.txt never showed: $(ls -R "$MNT/runs/$id/logs" 2>&1)"
    wait_status 5 "$MNT/runs/$id/status" Running || fail "the run is not running: $(cat "$MNT/runs/$id/status")"
    [ "$(cat "$MNT/runs/$id/logs/sub/y.txt")" = deep ] || fail "logs/sub/y.txt: $(ls -R "$MNT/runs/$id/logs")"
    echo no 2>/dev/null > "$MNT/runs/$id/logs/x.txt" && fail "logs/x.txt was writable"
    touch "$T/logs-go"
    wait_for 10 grep -q "epoch 2" "$MNT/runs/$id/logs/x.txt" || fail "the appended line never showed: $(cat "$MNT/runs/$id/logs/x.txt")"
    wait_status 20 "$MNT/runs/$id/status" Completed || fail "status: $(cat "$MNT/runs/$id/status")"
    [ "$(cat "$MNT/runs/$id/logs/x.txt")" = "$(printf 'epoch 1 loss 0.5\nepoch 2 loss 0.25')" ] || fail "after the end: $(cat "$MNT/runs/$id/logs/x.txt")"
}

t_tail_f_follows_a_metric() {
    mkdir "$MNT/experiments/tailing"
    id=$(submit tailing <<Y
command: >-
  echo '{"name": "loss", "value": 1}' >> "\$AMLFS_METRICS";
  while [ ! -e $T/tail-go ]; do sleep 0.05; done;
  echo '{"name": "loss", "value": 2}' >> "\$AMLFS_METRICS";
  while [ ! -e $T/tail-end ]; do sleep 0.05; done
environment: host
Y
) || fail "submit"
    wait_for 10 has_lines "$MNT/runs/$id/metrics/loss" 1 || fail "no first point"
    tail -n +1 -f "$MNT/runs/$id/metrics/loss" > "$T/tailed" 2>&1 &
    tail_pid=$!
    wait_for 5 has_lines "$T/tailed" 1 || { kill $tail_pid; fail "tail printed nothing"; }
    start=$(date +%s%N)
    touch "$T/tail-go"
    wait_for 10 has_lines "$T/tailed" 2
    got=$?
    echo "tail -f saw the second point $(( ($(date +%s%N) - start) / 1000000 )) ms after the job could write it"
    kill $tail_pid
    touch "$T/tail-end"
    [ $got = 0 ] || fail "tail -f never saw the second point: $(cat "$T/tailed")"
    wait_status 20 "$MNT/runs/$id/status" Completed || fail "status"
}

t_malformed_lines_are_counted_with_their_reasons() {
    mkdir "$MNT/experiments/bad-lines"
    cat > "$MNT/experiments/bad-lines/write.py" <<'PY'
import os
with open(os.environ["AMLFS_METRICS"], "a") as f:
    f.write('{"name": "loss", "value": 1}\n')
    f.write('not json\n')
    f.write('{"name": "", "value": 1}\n')
    f.write('{"name": "loss", "value": "high"}\n')
    f.write('{"name": "a//b", "value": 1}\n')
    f.write('\n')
    f.write('{"name": "loss", "value": 2, "epoch": 3}\n')
    f.write('{"name": "loss", "value": 3, "step": 1.5}\n')
    f.write('{"name": "loss", "value": 4}\n')
    f.write('{"name": "loss", "value": 4, "x": "' + "y" * 20000 + '"}\n')   # over 16 KiB
    f.write('{"name": "loss", "value": 5}')   # no newline: read when the run ends
PY
    id=$(printf 'command: python3 write.py\nenvironment: host\n' | submit bad-lines) || fail "submit"
    wait_status 20 "$MNT/runs/$id/status" Completed || fail "a malformed line must not fail the run: $(cat "$MNT/runs/$id/status")"
    [ "$(cat "$MNT/runs/$id/metrics/loss" | cut -d' ' -f1-2 | tr '\n' ' ')" = "0 1 1 4 2 5 " ] || fail "loss: $(cat "$MNT/runs/$id/metrics/loss")"
    python3 - "$MNT/runs/$id/info.json" <<'PY' || fail "info.json: $(cat "$MNT/runs/$id/info.json")"
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
assert m["malformed_lines"] == 7, m
lines = [p["line"] for p in m["problems"]]
assert lines == [2, 3, 4, 5, 7], m        # the first five are kept with their reasons
assert "not JSON" in m["problems"][0]["reason"]
assert "empty" in m["problems"][1]["reason"]
assert "not a number" in m["problems"][2]["reason"]
assert "unknown key 'epoch'" in m["problems"][4]["reason"]
PY
    # The log says it too, at its end.
    tail -1 "$MNT/runs/$id/log" | grep -q "^\[amlfs\] AMLFS_METRICS: 7 malformed lines not read, 0 points dropped over the limits (the first: metrics.jsonl line 2: not JSON" ||
        fail "log: $(tail -2 "$MNT/runs/$id/log")"
}

t_mlflow_client_logs_into_its_own_run() {
    mkdir "$MNT/experiments/mlf.exp"     # a '.' in the experiment: run ids still pass MLflow's rule
    cp "$MLFLOW_CLIENT" "$MNT/experiments/mlf.exp/"
    id=$(submit mlf.exp <<Y
command: >-
  python3 mlflow_like.py start metric:loss:0.5 wait:$T/go-mlflow metric:loss:0.25:1 batch:acc:0.1,0.2,0.3
  param:lr:0.01 param:epochs:3 tag:team:vision model:model end
environment: host
Y
) || fail "submit"
    case "$id" in *.*) fail "the run id holds a '.': $id" ;; esac
    wait_for 10 has_lines "$MNT/runs/$id/metrics/loss" 1 || fail "log_metric never showed: $(cat "$MNT/runs/$id/log")"
    wait_status 5 "$MNT/runs/$id/status" Running || fail "status $(cat "$MNT/runs/$id/status")"
    touch "$T/go-mlflow"
    wait_status 20 "$MNT/runs/$id/status" Completed || fail "status: $(cat "$MNT/runs/$id/status"); log: $(cat "$MNT/runs/$id/log")"
    [ "$(cut -d' ' -f1-2 "$MNT/runs/$id/metrics/loss" | tr '\n' ' ')" = "0 0.5 1 0.25 " ] || fail "loss: $(cat "$MNT/runs/$id/metrics/loss")"
    [ "$(cut -d' ' -f1-2 "$MNT/runs/$id/metrics/acc" | tr '\n' ' ')" = "0 0.1 1 0.2 2 0.3 " ] || fail "acc: $(cat "$MNT/runs/$id/metrics/acc")"
    python3 -c 'import json,sys; assert json.load(open(sys.argv[1])) == {"epochs": "3", "lr": "0.01"}' "$MNT/runs/$id/params.json" ||
        fail "params.json: $(cat "$MNT/runs/$id/params.json")"
    grep -q '"team": "vision"' "$MNT/runs/$id/tags.json" || fail "tags.json: $(cat "$MNT/runs/$id/tags.json")"
    python3 -c 'import json,sys; h=json.loads(json.load(open(sys.argv[1]))["mlflow.log-model.history"]); assert h[0]["artifact_path"] == "model"' \
        "$MNT/runs/$id/tags.json" || fail "log_model: $(cat "$MNT/runs/$id/tags.json")"
    grep -q '"mlflow_status": "FINISHED"' "$MNT/runs/$id/info.json" || fail "info.json: $(cat "$MNT/runs/$id/info.json")"
    # The run as MLflow's clients read it: the last value of each metric, its parameters, FINISHED.
    out=$(api GET runs/get "run_id=$id" "$(owner_token)")
    python3 - "$out" <<'PY' || fail "runs/get: $out"
import json, sys
status, body = sys.argv[1].split(" ", 1)
run = json.loads(body)["run"]
assert status == "200"
assert run["info"]["status"] == "FINISHED" and run["info"]["lifecycle_stage"] == "active"
assert {m["key"]: (m["value"], m["step"]) for m in run["data"]["metrics"]} == {"loss": (0.25, 1), "acc": (0.3, 2)}
assert {p["key"]: p["value"] for p in run["data"]["params"]} == {"lr": "0.01", "epochs": "3"}
PY
}

t_mlflow_refuses_malformed_requests_with_its_error_shape() {
    mkdir "$MNT/experiments/mlf-bad"
    id=$(printf 'command: echo hi\nenvironment: host\n' | submit mlf-bad) || fail "submit"
    wait_status 20 "$MNT/runs/$id/status" Completed || fail "status"
    tok=$(owner_token)
    expect() { # STATUS CODE METHOD ENDPOINT BODY
        out=$(api "$3" "$4" "$5" "$tok")
        python3 -c '
import json, sys
status, body = sys.argv[1].split(" ", 1)
b = json.loads(body)
assert status == sys.argv[2] and b["error_code"] == sys.argv[3] and b["message"], (status, b)' "$out" "$1" "$2" ||
            fail "$3 $4 $5: expected $1 $2, got $out"
    }
    expect 400 BAD_REQUEST POST runs/log-metric '{not json'
    expect 400 INVALID_PARAMETER_VALUE POST runs/log-metric "{\"run_id\": \"$id\", \"key\": \"loss\", \"timestamp\": 1}"
    expect 400 INVALID_PARAMETER_VALUE POST runs/log-metric "{\"run_id\": \"$id\", \"key\": \"../x\", \"value\": 1, \"timestamp\": 1}"
    expect 400 INVALID_PARAMETER_VALUE POST runs/log-metric "{\"run_id\": \"$id\", \"key\": \"l\", \"value\": true, \"timestamp\": 1}"
    expect 400 INVALID_PARAMETER_VALUE POST runs/log-metric "{\"run_id\": \"$id\", \"key\": \"l\", \"value\": 1, \"timestamp\": -5}"
    expect 400 INVALID_PARAMETER_VALUE POST runs/log-metric "{\"key\": \"l\", \"value\": 1, \"timestamp\": 1}"
    expect 400 INVALID_PARAMETER_VALUE POST runs/log-batch "{\"run_id\": \"$id\", \"metrics\": {}}"
    expect 400 INVALID_PARAMETER_VALUE POST runs/log-batch "{\"run_id\": \"$id\", \"params\": [{\"key\": \"a\", \"value\": \"1\"}, {\"key\": \"a\", \"value\": \"2\"}]}"
    expect 404 RESOURCE_DOES_NOT_EXIST GET runs/get "run_id=no-such-run"
    expect 404 RESOURCE_DOES_NOT_EXIST GET experiments/get-by-name "experiment_name=nope"
    expect 404 ENDPOINT_NOT_FOUND POST runs/delete "{}"
    expect 404 RESOURCE_DOES_NOT_EXIST POST runs/create '{"experiment_id": "1"}'
    expect 400 INVALID_PARAMETER_VALUE POST runs/create '{"experiment_id": "0"}'
    expect 400 INVALID_PARAMETER_VALUE POST runs/search '{"experiment_ids": [], "filter": "metrics.loss < 1"}'
    out=$(api POST runs/log-parameter "{\"run_id\": \"$id\", \"key\": \"lr\", \"value\": \"1\"}" "$tok")
    [ "${out%% *}" = 200 ] || fail "log-parameter: $out"
    expect 400 INVALID_PARAMETER_VALUE POST runs/log-parameter "{\"run_id\": \"$id\", \"key\": \"lr\", \"value\": \"2\"}"
    # Nothing of a refused batch is kept.
    [ "$(cat "$MNT/runs/$id/params.json" | tr -d ' \n')" = '{"lr":"1"}' ] || fail "params: $(cat "$MNT/runs/$id/params.json")"
}

t_a_jobs_token_is_good_for_its_own_run_only() {
    mkdir "$MNT/experiments/tokens"
    other=$(printf 'command: echo other\nenvironment: host\n' | submit tokens) || fail "submit other"
    id=$(printf 'command: printf %%s "$MLFLOW_TRACKING_TOKEN" > outputs/token\nenvironment: host\n' | submit tokens) || fail "submit"
    wait_status 20 "$MNT/runs/$id/status" Completed || fail "status"
    tok=$(cat "$MNT/runs/$id/outputs/token")
    [ -n "$tok" ] || fail "the job had no MLFLOW_TRACKING_TOKEN"
    out=$(api GET runs/get "run_id=$id" "$tok");  [ "${out%% *}" = 200 ] || fail "own run: $out"
    out=$(api GET runs/get "run_id=$other" "$tok"); [ "${out%% *}" = 403 ] && [[ $out == *PERMISSION_DENIED* ]] || fail "other run: $out"
    out=$(api POST runs/log-metric "{\"run_id\": \"$other\", \"key\": \"x\", \"value\": 1, \"timestamp\": 1}" "$tok")
    [ "${out%% *}" = 403 ] || fail "writing another run: $out"
    out=$(api POST experiments/create '{"name": "sneaky"}' "$tok"); [ "${out%% *}" = 403 ] || fail "creating: $out"
    out=$(api POST runs/create '{"experiment_id": "0"}' "$tok"); [ "${out%% *}" = 403 ] || fail "creating a run: $out"
    out=$(api GET runs/get "run_id=$id" "");  [ "${out%% *}" = 401 ] && [[ $out == *UNAUTHENTICATED* ]] || fail "no token: $out"
    if [ "${tok: -1}" = 0 ]; then garbled=${tok%?}1; else garbled=${tok%?}0; fi
    out=$(api GET runs/get "run_id=$id" "$garbled"); [ "${out%% *}" = 401 ] || fail "a garbled token: $out"
    # The run token opens nothing but MLflow's API.
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" "http://127.0.0.1:$(cat "$DATA/mlflow.port")/v1/runs")
    [ "$code" = 404 ] || fail "/v1 on MLflow's port: $code"
}

t_ten_thousand_points_are_read_back_complete() {
    mkdir "$MNT/experiments/many"
    cat > "$MNT/experiments/many/many.py" <<'PY'
import json, os
with open(os.environ["AMLFS_METRICS"], "a") as f:
    for i in range(10000):
        f.write(json.dumps({"name": "loss", "value": 1.0 / (i + 1)}) + "\n")
PY
    id=$(printf 'command: python3 many.py\nenvironment: host\n' | submit many) || fail "submit"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "status"
    [ "$(wc -l < "$MNT/runs/$id/metrics/loss")" = 10000 ] || fail "lines: $(wc -l < "$MNT/runs/$id/metrics/loss")"
    [ "$(cut -d' ' -f1 "$MNT/runs/$id/metrics/loss" | sort -n | uniq | wc -l)" = 10000 ] || fail "steps are not 0..9999"
    [ "$(tail -1 "$MNT/runs/$id/metrics/loss" | cut -d' ' -f1-2)" = "9999 0.0001" ] || fail "last: $(tail -1 "$MNT/runs/$id/metrics/loss")"
    [ "$(stat -c %s "$MNT/runs/$id/metrics.json")" = "$(wc -c < "$MNT/runs/$id/metrics.json")" ] || fail "metrics.json's size"
    [ "$(grep -c '"step"' "$MNT/runs/$id/metrics.json")" = 10000 ] || fail "metrics.json's points"
    # metrics.json is held in a temp file while open (README: Metrics): what the mount shows is the API's
    # answer byte for byte, for a reader holding it open while another reads it whole.
    curl -sS --unix-socket "$DATA/server.sock" "http://localhost/v1/runs/$id/metrics.json" > "$T/api.json" || fail "the API's metrics.json"
    exec 7< "$MNT/runs/$id/metrics.json" || fail "open metrics.json"
    dd bs=100 count=1 iflag=fullblock status=none <&7 > "$T/head.json"
    cmp -s "$MNT/runs/$id/metrics.json" "$T/api.json" || fail "metrics.json differs from the API's answer"
    cat <&7 >> "$T/head.json"
    exec 7<&-
    cmp -s "$T/head.json" "$T/api.json" || fail "metrics.json read in two parts differs from the API's answer"
    svg_paths "$MNT/runs/$id/metrics/loss.svg" 1 || fail "loss.svg: $(head -c 300 "$MNT/runs/$id/metrics/loss.svg")"
    [ "$(wc -c < "$MNT/runs/$id/metrics/loss.svg")" -lt 100000 ] || fail "loss.svg is $(wc -c < "$MNT/runs/$id/metrics/loss.svg") bytes"
}

# The monitor reads a flooding job's file while the run's end reads it too: when the two met, the end
# stopped reading and the run showed Completed with part of its points (seen at 650,000 of 1,000,000).
t_every_point_is_in_when_the_run_shows_completed() {
    mkdir "$MNT/experiments/flood"
    cat > "$MNT/experiments/flood/flood.py" <<'PY'
import json, os
with open(os.environ["AMLFS_METRICS"], "a") as f:
    for i in range(300000):
        f.write('{"name": "loss", "value": %d}\n' % i)
PY
    id=$(printf 'command: python3 flood.py\nenvironment: host\n' | submit flood) || fail "submit"
    # Followed while it runs, as a user's `watch wc -l` or a plot would: what was read then must not
    # stand in for the end.
    local n deadline=$((SECONDS + 120))
    until [ "$(cat "$MNT/runs/$id/status")" = Completed ]; do
        [ $SECONDS -lt $deadline ] || fail "not Completed: $(cat "$MNT/runs/$id/status")"
        wc -l < "$MNT/runs/$id/metrics/loss" >/dev/null 2>&1
        stat "$MNT/runs/$id/metrics/loss" >/dev/null 2>&1
    done
    n=$(wc -l < "$MNT/runs/$id/metrics/loss")
    [ "$n" = 300000 ] || fail "at Completed, metrics/loss has $n of 300000 points"
}

# FILE COUNT: FILE is an SVG document (it parses as XML) with COUNT line paths, one per series.
svg_paths() {
    python3 - "$1" "$2" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "{http://www.w3.org/2000/svg}svg", root.tag
paths = root.findall(".//{http://www.w3.org/2000/svg}path")
assert len(paths) == int(sys.argv[2]), f"{len(paths)} paths"
PY
}

t_a_server_restart_in_the_middle_repeats_and_loses_no_point() {
    mkdir "$MNT/experiments/restart"
    id=$(submit restart <<Y
command: >-
  for i in \$(seq 0 99); do echo "{\"name\": \"x\", \"value\": \$i}" >> "\$AMLFS_METRICS"; done;
  while [ ! -e $T/go-restart ]; do sleep 0.05; done;
  for i in \$(seq 100 199); do echo "{\"name\": \"x\", \"value\": \$i}" >> "\$AMLFS_METRICS"; done
environment: host
Y
) || fail "submit"
    wait_for 10 has_lines "$MNT/runs/$id/metrics/x" 100 || fail "the first 100 never showed"
    pid=$(server_pid)
    kill -9 "$pid" || fail "kill"
    wait_for 5 sh -c "! kill -0 $pid" || fail "server still alive"
    touch "$T/go-restart"   # the job writes 100 more while no server reads
    wait_for 10 test -e "$DATA/runs/$id/exit.json" || fail "the job did not end"
    "$AMLFS_SERVER" --data-dir "$DATA" || fail "restart"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "status after restart: $(cat "$MNT/runs/$id/status")"
    [ "$(cut -d' ' -f1-2 "$MNT/runs/$id/metrics/x")" = "$(seq 0 199 | awk '{print $1, $1}')" ] ||
        fail "points differ: $(wc -l < "$MNT/runs/$id/metrics/x") lines"
}

t_three_runs_with_different_parameters_compare_side_by_side() {
    mkdir "$MNT/experiments/compare"
    cp "$MLFLOW_CLIENT" "$MNT/experiments/compare/"
    for lr in 0.1 0.01 0.001; do
        printf 'command: python3 mlflow_like.py start param:lr:%s metric:loss:%s end\nenvironment: host\n' "$lr" "$lr" |
            submit compare > /dev/null || fail "submit $lr"
    done
    done_all() { [ "$(grep -l Completed "$MNT"/experiments/compare/runs/*_*/status 2>/dev/null | wc -l)" = 3 ]; }
    wait_for 30 done_all || fail "runs did not complete: $(cat "$MNT"/experiments/compare/runs/*/status)"
    out=$(curl -s --unix-socket "$DATA/server.sock" http://localhost/v1/experiments/compare/runs-summary)
    python3 - "$out" <<'PY' || fail "runs-summary: $out"
import json, sys
s = json.loads(sys.argv[1])
assert s["experiment"] == "compare" and len(s["runs"]) == 3
assert [r["params"]["lr"] for r in s["runs"]] == ["0.1", "0.01", "0.001"]          # in submission order
assert [r["metrics"]["loss"]["value"] for r in s["runs"]] == [0.1, 0.01, 0.001]
assert all(r["status"] == "Completed" and r["started"] for r in s["runs"])
PY
    # One cat compares them: a row per run, oldest first, its parameters and last values, for column -t.
    tsv=$(cat "$MNT/experiments/compare/metrics.tsv") || fail "metrics.tsv"
    [ "$(echo "$tsv" | head -1 | cut -f1-5)" = "$(printf 'run\tstatus\tstarted\tparams.lr\tmetrics.loss')" ] ||
        fail "header: $(echo "$tsv" | head -1)"
    [ "$(echo "$tsv" | sed 1d | cut -f4 | tr '\n' ' ')" = "0.1 0.01 0.001 " ] || fail "rows: $tsv"
    [ "$(echo "$tsv" | sed 1d | cut -f5 | tr '\n' ' ')" = "0.1 0.01 0.001 " ] || fail "last values: $tsv"
    [ "$(echo "$tsv" | column -t -s "$(printf '\t')" | wc -l)" = 4 ] || fail "column -t"
    ls "$MNT/experiments/compare/metrics" | grep -qx loss.svg || fail "metrics/: $(ls "$MNT/experiments/compare/metrics")"
    svg_paths "$MNT/experiments/compare/metrics/loss.svg" 3 || fail "the overlay: $(head -c 300 "$MNT/experiments/compare/metrics/loss.svg")"
    echo "$tsv" | sed 1d | cut -f1,4 | while IFS="$(printf '\t')" read -r r lr; do
        grep -q ">lr=$lr · ${r:0:10}" "$MNT/experiments/compare/metrics/loss.svg" ||
            fail "the legend lacks lr=$lr of $r: $(grep -o '<text[^>]*>[^<]*</text>' "$MNT/experiments/compare/metrics/loss.svg" | tail -4)"
    done || exit 1
    cat "$MNT/experiments/compare/metrics/nope.svg" 2>/dev/null && fail "a chart of a metric no run has"
    return 0
}

t_a_run_name_mlflow_would_refuse_is_refused_with_the_reason() {
    mkdir "$MNT/experiments/names"
    printf 'command: echo hi\nenvironment: host\nname: my.run\n' > "$MNT/experiments/names/job.yaml" 2>/dev/null
    grep -q "run name 'my.run' holds '.'" "$MNT/experiments/names/status" || fail "status: $(cat "$MNT/experiments/names/status")"
}

t_hostile_mlflow_requests_get_mlflow_errors_never_a_crash() {
    mkdir "$MNT/experiments/hostile"
    id=$(printf 'command: echo hi\nenvironment: host\n' | submit hostile) || fail "submit"
    wait_status 20 "$MNT/runs/$id/status" Completed || fail "status"
    python3 - "$(cat "$DATA/mlflow.port")" "$(owner_token)" "$id" <<'PY' || fail "hostile requests"
import json, random, sys, urllib.error, urllib.request
port, token, run = sys.argv[1:4]
rnd = random.Random(7)
posts = ["runs/update", "runs/log-metric", "runs/log-batch", "runs/log-parameter", "runs/set-tag", "runs/delete-tag",
         "runs/log-model", "runs/search", "experiments/create", "experiments/search", "runs/create", "runs/log-inputs",
         "logged-models", "logged-models/search", "runs/outputs", "logged-models/m-x/params"]
gets = ["runs/get", "metrics/get-history", "experiments/get", "experiments/get-by-name", "experiments/search",
        "logged-models/m-x"]
good = {"run_id": run, "key": "k", "value": 1, "timestamp": 1, "step": 0,
        "metrics": [{"key": "m", "value": 1, "timestamp": 1}], "params": [{"key": "p", "value": "v"}],
        "tags": [{"key": "t", "value": "v"}], "experiment_ids": ["x"], "status": "FINISHED", "model_json": "{}",
        "datasets": [{"tags": [], "dataset": {"name": "d", "digest": "1", "source_type": "local", "source": "{}"}}]}
junk = [None, True, -1, 1e308, "", "NaN", "../..", "a" * 300, [], {}, [None], {"key": []}, "\u0000", 2 ** 70]
def body():
    kind = rnd.random()
    if kind < 0.2:
        return bytes(rnd.randrange(256) for _ in range(rnd.randrange(60)))
    d = {k: v for k, v in good.items() if rnd.random() < 0.6}
    for _ in range(rnd.randrange(4)):
        d[rnd.choice(list(good) + ["x"])] = rnd.choice(junk)
    text = json.dumps(d).encode()
    if kind < 0.4 and text:
        cut = rnd.randrange(len(text))
        text = text[:cut] + bytes([rnd.randrange(256)]) + text[cut + 1:]
    return text
def send(method, endpoint, data=None, query=""):
    url = "http://127.0.0.1:%s/api/2.0/mlflow/%s%s" % (port, endpoint, query)
    req = urllib.request.Request(url, data=data, method=method, headers={"Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        text = e.read()
        try:
            return e.code, json.loads(text)
        except ValueError:
            raise AssertionError("%s %s: HTTP %d %r" % (method, url, e.code, text[:300]))
for i in range(600):
    if i % 3:
        status, answer = send("POST", rnd.choice(posts), body())
    else:
        q = "?" + "&".join("%s=%s" % (rnd.choice(["run_id", "metric_key", "experiment_id", "experiment_name",
                                                  "max_results", "page_token", "x"]),
                                      rnd.choice(["", run, "%00", "-5", "9" * 30, "a%2Fb", "%ZZ", "k"]))
                           for _ in range(rnd.randrange(4)))
        status, answer = send("GET", rnd.choice(gets), None, q)
    assert status < 500, (status, answer)
    if status != 200:
        assert set(answer) == {"error_code", "message"} and answer["message"], (status, answer)
print("ok")
PY
    # The server still answers, and the run is whole.
    out=$(api GET runs/get "run_id=$id" "$(owner_token)")
    [ "${out%% *}" = 200 ] || fail "after the hostile requests: $out"
}

run_cases
