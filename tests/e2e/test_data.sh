#!/usr/bin/env bash
# test_data.sh: a job's data as az ml users write it: a folder and a file of the experiment given as
# typed inputs reach the job read-only at the path ${{inputs.NAME}} becomes, an optional input without
# a value drops its $[[...]], an output folder exists when the job starts; sources not read here yet and
# wrong paths are refused at submission, naming the line.
. "$(dirname "$0")/../lib/e2e.sh"
. "$(dirname "$0")/../lib/http.sh"

CORPUS=$ROOT/tests/data/job-with-data

test_cleanup() { stop_http; }

t_a_folder_and_a_file_reach_the_job_and_the_output_is_kept() {
    mkdir "$MNT/experiments/data"
    cp -r "$CORPUS/src" "$CORPUS/data" "$MNT/experiments/data/" || fail "copy"
    id=$(submit data < "$CORPUS/job.yaml") || fail "submit"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "status: $(cat "$MNT/runs/$id/status"): $(cat "$MNT/runs/$id/log")"
    log=$(cat "$MNT/runs/$id/log")
    echo "$log" | grep -qx "rows 5 labels 2 epochs 3 seed None" || fail "what the job read: $log"
    echo "$log" | grep -qx "read shard-0.csv: read-only True" || fail "inputs not read-only: $log"
    echo "$log" | grep -qx "write into input scratch.tmp: EROFS" && echo "$log" | grep -qx "write into input labels.csv: EROFS" ||
        fail "a write into an input was not refused with EROFS: $log"
    echo "$log" | grep -qx "data is absolute: True; model dir exists: True" || fail "paths: $log"
    grep -q '"rows": 5' "$MNT/runs/$id/outputs/model/model.json" || fail "output: $(ls -R "$MNT/runs/$id/outputs")"
    grep -q -- "--seed" "$MNT/runs/$id/job.yaml" || fail "job.yaml lost the optional section"
    ! grep -q -- '--seed' "$DATA/runs/$id/launch.json" || fail "the optional section was not dropped from the command"
    # The data is a snapshot: changing the experiment's files changes nothing for this run.
    echo "11,12" >> "$MNT/experiments/data/data/shard-1.csv"
    [ "$(wc -l < "$DATA/runs/$id/inputs/training_data/shard-1.csv")" = 2 ] || fail "the input followed a later edit"
}

t_wrong_and_unreadable_sources_are_refused_with_the_line() {
    mkdir "$MNT/experiments/baddata"
    cp -r "$CORPUS/src" "$CORPUS/data" "$MNT/experiments/baddata/"
    local before
    before=$(run_count)
    check() { # SED-EXPRESSION ERRNO MESSAGE
        local r
        r=$(sed "$1" "$CORPUS/job.yaml" | write_spec "$MNT/experiments/baddata/job.yaml")
        [ "$r" = "$2" ] || fail "[$1] close: $r ($(cat "$MNT/experiments/baddata/status"))"
        grep -qF "$3" "$MNT/experiments/baddata/status" || fail "[$1] status: $(cat "$MNT/experiments/baddata/status")"
    }
    check 's|path: ./data$|path: ./nodata|' ENOENT "line 17 column 11: input 'training_data': './nodata' not found in experiment 'baddata'"
    check 's|path: ./data/labels.csv|path: ./data|' EINVAL "input 'labels' is a uri_file but './data' is a folder: write \`type: uri_folder\`"
    check 's|path: ./data$|path: ../../elsewhere|' EINVAL "input 'training_data': '../../elsewhere' leads outside the experiment folder"
    check 's|path: ./data$|path: wasbs://c@acct.blob.core.windows.net/data|' EINVAL "input 'training_data': URLs other than https:// (wasbs://, abfss://) are not fetched by this workspace yet"
    check 's|type: uri_folder$|type: mltable|' EINVAL "input 'training_data' is of type mltable, which amlfs cannot read"
    check 's|mode: ro_mount|mode: rw_mount|' EINVAL "input 'training_data' has mode 'rw_mount'; an input's mode is ro_mount or download"
    [ "$(run_count)" = "$before" ] || fail "a refused job made a run"
    [ -z "$(ls "$DATA/runs" | grep '^baddata_')" ] || fail "a refused job left a run folder: $(ls "$DATA/runs")"
}

t_another_experiment_name_is_noted_not_refused_and_other_job_types_are_named() {
    mkdir "$MNT/experiments/renamed"
    cp -r "$CORPUS/src" "$CORPUS/data" "$MNT/experiments/renamed/"
    id=$(submit renamed < "$CORPUS/job.yaml") || fail "submit: $(cat "$MNT/experiments/renamed/status")"
    grep -qx "submitted $id (experiment_name 'data' in job.yaml is not used: the folder 'renamed' is the experiment)" \
        "$MNT/experiments/renamed/status" || fail "status: $(cat "$MNT/experiments/renamed/status")"
    grep -q "^experiment_name: data" "$MNT/runs/$id/job.yaml" || fail "the run's job.yaml lost what the file said"
    python3 -c 'import json,sys; i = json.load(open(sys.argv[1])); sys.exit(i["experiment_name"] != "data" or i["experiment"] != "renamed")' \
        "$MNT/runs/$id/info.json" || fail "info.json: $(cat "$MNT/runs/$id/info.json")"
    r=$(printf 'type: sweep\ntrial:\n  command: python3 train.py\nsampling_algorithm: random\n' |
        write_spec "$MNT/experiments/renamed/job.yaml")
    [ "$r" = EINVAL ] || fail "sweep: $r"
    grep -q "this is a sweep job: only command jobs run here" "$MNT/experiments/renamed/status" ||
        fail "sweep status: $(cat "$MNT/experiments/renamed/status")"
}

t_keys_that_mean_nothing_here_are_listed_not_dropped() {
    mkdir "$MNT/experiments/extras"
    id=$(submit extras <<'Y'
command: echo hi
environment: azureml:host@latest
resources:
  instance_type: Standard_NC6
  shm_size: 2g
  locations: [westeurope]
identity:
  type: user_identity
services:
  my_jupyter:
    type: jupyter_lab
queue_settings:
  job_tier: standard
Y
) || fail "submit: $(cat "$MNT/experiments/extras/status")"
    grep -qx "submitted $id (ignored here: resources.instance_type, resources.shm_size, resources.locations, services, identity, queue_settings)" \
        "$MNT/experiments/extras/status" || fail "status: $(cat "$MNT/experiments/extras/status")"
    python3 -c 'import json,sys; k = json.load(open(sys.argv[1]))["ignored_keys"]; sys.exit(k != ["resources.instance_type", "resources.shm_size", "resources.locations", "services", "identity", "queue_settings"])' \
        "$MNT/runs/$id/info.json" || fail "info.json: $(cat "$MNT/runs/$id/info.json")"
    # A key whose loss would change what runs is refused instead.
    local r
    r=$(printf 'command: echo hi\nenvironment: azureml:host@latest\nresources:\n  docker_args: --ipc=host --ulimit memlock=-1\n' |
        write_spec "$MNT/experiments/extras/job.yaml")
    [ "$r" = EINVAL ] && grep -q "line 4 column 16: resources.docker_args is not taken here" "$MNT/experiments/extras/status" ||
        fail "docker_args: $r $(cat "$MNT/experiments/extras/status")"
}

t_a_prep_job_joins_local_and_published_data_into_a_registered_version() {
    local corpus=$ROOT/tests/data/job-prep id
    mkdir -p "$MNT/experiments/prep" "$T/www/published"
    cp "$corpus/holidays.csv" "$T/www/published/" && cp -r "$corpus/src" "$corpus/raw" "$MNT/experiments/prep/" || fail "copy"
    id=$(sed "s|https://calendars.example.org/published/|$HTTP/published/|" "$corpus/job.yaml" | submit prep) ||
        fail "submit: $(cat "$MNT/experiments/prep/status")"
    grep -q "ignored here: services, queue_settings\|ignored here: queue_settings, services" "$MNT/experiments/prep/status" ||
        fail "status: $(cat "$MNT/experiments/prep/status")"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "run: $(cat "$MNT/runs/$id/status") $(cat "$MNT/runs/$id/log")"
    grep -qx "raw files: .amlignore export-2026-12.csv export-2027-01.csv" "$MNT/runs/$id/log" &&
        grep -qx "features: 3 rows, 2 on a holiday" "$MNT/runs/$id/log" || fail "log: $(cat "$MNT/runs/$id/log")"
    wait_for 5 grep -qx "version 3: uri_folder" "$MNT/data/customer-features/status" ||
        fail "asset: $(cat "$MNT/data/customer-features/status" 2>&1)"
    [ "$(ls "$MNT/data/customer-features/versions/3" | tr '\n' ' ')" = "data.yaml features.csv schema.json " ] ||
        fail "version 3: $(ls "$MNT/data/customer-features/versions/3")"
}

t_an_https_file_is_fetched_once_and_a_bad_url_fails_the_run_with_its_status() {
    mkdir "$MNT/experiments/web"
    printf 'a,b\n1,2\n' > "$T/www/table.csv"
    web_job() {
        cat <<Y
command: wc -l < \${{inputs.table}}
environment: azureml:host@latest
inputs:
  table:
    type: uri_file
    path: $1
Y
    }
    id=$(web_job "$HTTP/table.csv?sv=2021&sig=x" | submit web) || fail "submit: $(cat "$MNT/experiments/web/status")"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "status: $(cat "$MNT/runs/$id/status"): $(cat "$MNT/runs/$id/info.json")"
    grep -qx 2 "$MNT/runs/$id/log" || fail "log: $(cat "$MNT/runs/$id/log")"
    id=$(web_job "$HTTP/table.csv?sv=2021&sig=x" | submit web) || fail "submit again"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "second: $(cat "$MNT/runs/$id/status")"
    grep -q '"GET /table.csv?sv=2021&sig=x HTTP/1.1" 304' "$T/www.log" ||
        fail "the second run downloaded again: $(cat "$T/www.log")"
    id=$(web_job "$HTTP/missing.csv" | submit web) || fail "submit 404"
    wait_status 30 "$MNT/runs/$id/status" Failed || fail "404: $(cat "$MNT/runs/$id/status")"
    grep -q "input 'table': GET $HTTP/missing.csv answered HTTP 404" "$MNT/runs/$id/info.json" ||
        fail "404 reason: $(cat "$MNT/runs/$id/info.json")"
    id=$(web_job "$HTTP/close" | submit web) || fail "submit close"
    wait_status 30 "$MNT/runs/$id/status" Failed || fail "close: $(cat "$MNT/runs/$id/status")"
    grep -q "input 'table': GET $HTTP/close failed: " "$MNT/runs/$id/info.json" ||
        fail "closed connection reason: $(cat "$MNT/runs/$id/info.json")"
    r=$(web_job "$HTTP/dir/" | sed 's/uri_file/uri_folder/' | write_spec "$MNT/experiments/web/job.yaml")
    [ "$r" = EINVAL ] && grep -q "an https:// input is one file" "$MNT/experiments/web/status" ||
        fail "https folder: $r $(cat "$MNT/experiments/web/status")"
}

# A run whose input takes long to fetch holds up no other run: runs are prepared each on a thread of
# their own (a second run waited for the first one's download to end).
t_a_slow_input_fetch_holds_up_no_other_run() {
    mkdir "$MNT/experiments/slow"
    rm -f "$T/www/.held" "$T/www/.release"
    local a b
    a=$(printf 'command: cat ${{inputs.t}}\nenvironment: host\ninputs:\n  t:\n    type: uri_file\n    path: %s/hold\n' "$HTTP" |
        submit slow) || fail "submit the slow one: $(cat "$MNT/experiments/slow/status")"
    wait_for 10 test -e "$T/www/.held" || { touch "$T/www/.release"; fail "its fetch did not start"; }
    b=$(printf 'command: echo quick\nenvironment: host\n' | submit slow) || { touch "$T/www/.release"; fail "submit the quick one"; }
    wait_status 20 "$MNT/runs/$b/status" Completed ||
        { touch "$T/www/.release"; fail "the quick run waited: $(cat "$MNT/runs/$b/status"), the slow one $(cat "$MNT/runs/$a/status")"; }
    grep -qx Preparing "$MNT/runs/$a/status" || { touch "$T/www/.release"; fail "the slow one: $(cat "$MNT/runs/$a/status")"; }
    touch "$T/www/.release"
    wait_status 30 "$MNT/runs/$a/status" Completed || fail "the slow one after its fetch: $(cat "$MNT/runs/$a/status")"
    grep -qx held "$MNT/runs/$a/log" || fail "log: $(cat "$MNT/runs/$a/log")"
}

# A cancel while an input downloads ends the download: the run is Canceled at once, not when the
# download is over (it stayed CancelRequested until then).
t_a_cancel_while_an_input_downloads_ends_the_download() {
    mkdir "$MNT/experiments/stop-fetch"
    rm -f "$T/www/.held" "$T/www/.release"
    local a
    a=$(printf 'command: cat ${{inputs.t}}\nenvironment: host\ninputs:\n  t:\n    type: uri_file\n    path: %s/hold\n' "$HTTP" |
        submit stop-fetch) || fail "submit: $(cat "$MNT/experiments/stop-fetch/status")"
    wait_for 10 test -e "$T/www/.held" || { touch "$T/www/.release"; fail "its fetch did not start"; }
    echo cancel > "$MNT/runs/$a/ctl" || { touch "$T/www/.release"; fail "cancel"; }
    wait_status 10 "$MNT/runs/$a/status" Canceled ||
        { touch "$T/www/.release"; fail "still $(cat "$MNT/runs/$a/status") while the download is held"; }
    touch "$T/www/.release"
    [ ! -e "$DATA/runs/$a/inputs/t/hold" ] || fail "the input was placed after all"
}

# The server stops at once while an input downloads (it waited for the download), and the run, left
# Preparing, is prepared again when the server is back.
t_a_server_stopping_while_an_input_downloads_stops_at_once_and_prepares_it_again() {
    mkdir "$MNT/experiments/restart-fetch"
    rm -f "$T/www/.held" "$T/www/.release"
    local a pid
    a=$(printf 'command: cat ${{inputs.t}}\nenvironment: host\ninputs:\n  t:\n    type: uri_file\n    path: %s/hold\n' "$HTTP" |
        submit restart-fetch) || fail "submit: $(cat "$MNT/experiments/restart-fetch/status")"
    wait_for 10 test -e "$T/www/.held" || { touch "$T/www/.release"; fail "its fetch did not start"; }
    pid=$(server_pid)
    kill "$pid"
    wait_for 10 sh -c "! kill -0 $pid 2>/dev/null" || { touch "$T/www/.release"; kill -9 "$pid"; "$AMLFS_SERVER" --data-dir "$DATA"; fail "the server waited for the download"; }
    touch "$T/www/.release"
    "$AMLFS_SERVER" --data-dir "$DATA" || fail "restart"
    wait_status 30 "$MNT/runs/$a/status" Completed || fail "after the restart: $(cat "$MNT/runs/$a/status") $(cat "$MNT/runs/$a/info.json")"
    grep -qx held "$MNT/runs/$a/log" || fail "log: $(cat "$MNT/runs/$a/log")"
}

t_an_input_fetch_cut_short_leaves_no_half_input_and_is_fetched_again() {
    printf 'a,b\n1,2\n3,4\n' > "$T/www/whole.csv"
    mkdir "$MNT/experiments/cut"
    stop_server
    AMLFS_FAULT=input-fetched-before-rename "$AMLFS_SERVER" --data-dir "$DATA" || fail "start with the fault"
    local pid id r
    pid=$(server_pid)
    revive() { kill -0 "$(server_pid)" 2>/dev/null || "$AMLFS_SERVER" --data-dir "$DATA"; }
    r=$(printf 'command: wc -l < ${{inputs.t}}\nenvironment: host\ninputs:\n  t:\n    type: uri_file\n    path: %s/whole.csv\n' "$HTTP" |
        write_spec "$MNT/experiments/cut/job.yaml")
    [ "$r" = OK ] || { revive; fail "submit: $r"; }
    wait_for 10 sh -c "! kill -0 $pid" || { kill -9 "$pid"; revive; fail "the fault point was not reached"; }
    id=$(ls "$DATA/runs" | grep '^cut_')
    # Killed between the fetch and the rename: the input is not there under its name.
    [ -n "$id" ] && [ -e "$DATA/runs/$id/inputs/t/.whole.csv.part" ] && [ ! -e "$DATA/runs/$id/inputs/t/whole.csv" ] ||
        { revive; fail "not the state to test: $(ls -RA "$DATA/runs/$id/inputs" 2>&1)"; }
    "$AMLFS_SERVER" --data-dir "$DATA" || fail "restart"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "status: $(cat "$MNT/runs/$id/status") $(cat "$MNT/runs/$id/info.json")"
    grep -qx 3 "$MNT/runs/$id/log" || fail "log: $(cat "$MNT/runs/$id/log")"
    [ "$(ls -A "$DATA/runs/$id/inputs/t")" = whole.csv ] || fail "left behind: $(ls -A "$DATA/runs/$id/inputs/t")"
}

t_an_absolute_folder_or_file_of_this_machine_is_uploaded_by_the_mount() {
    mkdir -p "$MNT/experiments/local" "$T/dataset/images"
    printf 'x\n' > "$T/dataset/images/1.txt"
    printf 'y\n' > "$T/dataset/images/2.txt"
    printf 'images/2.txt\n' > "$T/dataset/.amlignore"
    id=$(submit local <<Y
command: ls -R \${{inputs.dataset}}
environment: azureml:host@latest
inputs:
  dataset:
    type: uri_folder
    path: $T/dataset
Y
) || fail "submit: $(cat "$MNT/experiments/local/status")"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "status: $(cat "$MNT/runs/$id/status")"
    grep -qx "1.txt" "$MNT/runs/$id/log" || fail "log: $(cat "$MNT/runs/$id/log")"
    ! grep -qx "2.txt" "$MNT/runs/$id/log" || fail ".amlignore not applied: $(cat "$MNT/runs/$id/log")"
    r=$(printf 'command: cat ${{inputs.f}}\nenvironment: host\ninputs:\n  f:\n    type: uri_folder\n    path: %s/nowhere\n' "$T" |
        write_spec "$MNT/experiments/local/job.yaml")
    [ "$r" = ENOENT ] || fail "missing folder: $r $(cat "$MNT/experiments/local/status")"
    grep -q "input 'f': folder $T/nowhere: " "$MNT/experiments/local/status" || fail "why: $(cat "$MNT/experiments/local/status")"
    id=$(printf 'command: cat ${{inputs.f}}; ls -l ${{inputs.f}}\nenvironment: host\ninputs:\n  f:\n    type: uri_file\n    path: %s/dataset/images/2.txt\n' "$T" |
        submit local) || fail "absolute file: $(cat "$MNT/experiments/local/status")"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "file run: $(cat "$MNT/runs/$id/status")"
    grep -qx y "$MNT/runs/$id/log" && grep -q '^-r--r--r-- .* /.*/inputs/f/2.txt$' "$MNT/runs/$id/log" ||
        fail "file log: $(cat "$MNT/runs/$id/log")"
    check_kind() { # TYPE PATH MESSAGE
        r=$(printf 'command: cat ${{inputs.f}}\nenvironment: host\ninputs:\n  f:\n    type: %s\n    path: %s\n' "$1" "$2" |
            write_spec "$MNT/experiments/local/job.yaml")
        [ "$r" = EINVAL ] && grep -qF "$3" "$MNT/experiments/local/status" ||
            fail "$1 $2: $r $(cat "$MNT/experiments/local/status")"
    }
    check_kind uri_file "$T/dataset/images" "$T/dataset/images is a folder: write \`type: uri_folder\`"
    check_kind uri_folder "$T/dataset/images/1.txt" "1.txt is a file: write \`type: uri_file\`"
}

t_a_data_asset_is_registered_browsed_and_used_by_name() {
    mkdir "$MNT/data/iris" || fail "mkdir data/iris"
    mkdir "$MNT/data/iris/files"
    printf 'sepal,petal\n5.1,1.4\n4.9,1.4\n' > "$MNT/data/iris/files/iris.csv"
    cat > "$MNT/data/iris/data.yaml" <<'Y'
$schema: https://azuremlschemas.azureedge.net/latest/data.schema.json
name: iris
description: The iris measurements, as a folder.
type: uri_folder
path: ./files
tags:
  source: uci
Y
    grep -qx "version 1: uri_folder" "$MNT/data/iris/status" || fail "status: $(cat "$MNT/data/iris/status")"
    [ "$(ls "$MNT/data/iris/versions")" = 1 ] || fail "versions: $(ls "$MNT/data/iris/versions")"
    grep -q "^path: ./files" "$MNT/data/iris/versions/1/data.yaml" || fail "version's data.yaml"
    [ "$(cat "$MNT/data/iris/versions/1/iris.csv" | wc -l)" = 3 ] || fail "version's content"
    [ "$(find "$MNT/data/iris/versions/1" -name '*.csv')" = "$MNT/data/iris/versions/1/iris.csv" ] || fail "find"
    echo "6.2,5.4" >> "$MNT/data/iris/files/iris.csv"
    [ "$(wc -l < "$MNT/data/iris/versions/1/iris.csv")" = 3 ] || fail "a version changed with its source"
    (echo x > "$MNT/data/iris/versions/1/new.txt") 2>/dev/null && fail "a version took a write"
    # A second version, by saving data.yaml again; a job uses the latest and a pinned one.
    cp "$MNT/data/iris/data.yaml" "$T/data.yaml" && cp "$T/data.yaml" "$MNT/data/iris/data.yaml"
    grep -qx "version 2: uri_folder" "$MNT/data/iris/status" || fail "second: $(cat "$MNT/data/iris/status")"
    mkdir "$MNT/experiments/uses-iris"
    id=$(submit uses-iris <<'Y'
command: wc -l ${{inputs.latest}}/iris.csv ${{inputs.first}}/iris.csv
environment: azureml:host@latest
inputs:
  latest:
    type: uri_folder
    path: azureml:iris@latest
  first:
    type: uri_folder
    path: azureml:iris:1
Y
) || fail "submit: $(cat "$MNT/experiments/uses-iris/status")"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "run: $(cat "$MNT/runs/$id/status")"
    grep -q "^ *4 .*/inputs/latest/iris.csv" "$MNT/runs/$id/log" && grep -q "^ *3 .*/inputs/first/iris.csv" "$MNT/runs/$id/log" ||
        fail "log: $(cat "$MNT/runs/$id/log")"
    r=$(printf 'command: ls ${{inputs.d}}\nenvironment: host\ninputs:\n  d:\n    type: uri_folder\n    path: azureml:nope@latest\n' |
        write_spec "$MNT/experiments/uses-iris/job.yaml")
    [ "$r" = ENOENT ] && grep -q "data asset 'nope' not found: mkdir data/nope" "$MNT/experiments/uses-iris/status" ||
        fail "missing asset: $r $(cat "$MNT/experiments/uses-iris/status")"
    r=$(printf 'type: uri_folder\npath: ./nothing\n' | write_spec "$MNT/data/iris/data.yaml")
    [ "$r" = ENOENT ] && grep -q "^Rejected: data.yaml line 2 column 7: path './nothing' not found in data/iris" "$MNT/data/iris/status" ||
        fail "bad path: $r $(cat "$MNT/data/iris/status")"
    [ "$(ls "$MNT/data/iris/versions" | wc -l)" = 2 ] || fail "a refused data.yaml made a version"
    rmdir "$MNT/data/iris" 2>/dev/null && fail "rmdir with files"
    grep -q "still holds files" "$MNT/data/status" || fail "why: $(cat "$MNT/data/status")"
    rm -r "$MNT/data/iris/files" "$MNT/data/iris/data.yaml" && rmdir "$MNT/data/iris" || fail "rmdir when empty"
    [ ! -e "$MNT/data/iris" ] || fail "still there"
}

t_a_file_data_asset_is_a_file_input() {
    mkdir "$MNT/data/labels" "$MNT/experiments/uses-labels"
    printf 'cat\ndog\n' > "$MNT/data/labels/labels.txt"
    printf 'type: uri_file\npath: labels.txt\n' > "$MNT/data/labels/data.yaml"
    grep -qx "version 1: uri_file" "$MNT/data/labels/status" || fail "status: $(cat "$MNT/data/labels/status")"
    id=$(printf 'command: cat ${{inputs.l}}\nenvironment: host\ninputs:\n  l:\n    type: uri_file\n    path: azureml:labels@latest\n' |
        submit uses-labels) || fail "submit: $(cat "$MNT/experiments/uses-labels/status")"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "run: $(cat "$MNT/runs/$id/status")"
    [ "$(cat "$MNT/runs/$id/log")" = "$(printf 'cat\ndog')" ] || fail "log: $(cat "$MNT/runs/$id/log")"
    r=$(printf 'command: cat ${{inputs.l}}\nenvironment: host\ninputs:\n  l:\n    type: uri_folder\n    path: azureml:labels:1\n' |
        write_spec "$MNT/experiments/uses-labels/job.yaml")
    [ "$r" = EINVAL ] && grep -q "data asset 'labels' version 1 is a uri_file, but the input is a uri_folder" "$MNT/experiments/uses-labels/status" ||
        fail "type: $r $(cat "$MNT/experiments/uses-labels/status")"
}

t_a_named_output_becomes_a_data_asset_version_when_the_run_completes() {
    mkdir "$MNT/experiments/produces"
    job() {
        cat <<'Y'
command: echo "weights $AZUREML_RUN_ID" > ${{outputs.model}}/weights.txt
environment: azureml:host@latest
outputs:
  model:
    type: custom_model
    name: produced-model
Y
    }
    a=$(job | submit produces) || fail "submit: $(cat "$MNT/experiments/produces/status")"
    wait_status 30 "$MNT/runs/$a/status" Completed || fail "run: $(cat "$MNT/runs/$a/status")"
    wait_for 30 grep -qx "version 1: custom_model" "$MNT/data/produced-model/status" ||
        fail "asset: $(ls "$MNT/data"; cat "$MNT/data/produced-model/status" 2>&1)"
    grep -qx "weights $a" "$MNT/data/produced-model/versions/1/weights.txt" || fail "content"
    grep -q "^path: azureml://jobs/$a/outputs/model" "$MNT/data/produced-model/versions/1/data.yaml" || fail "yaml"
    b=$(job | submit produces) || fail "submit again"
    wait_status 30 "$MNT/runs/$b/status" Completed || fail "second run"
    wait_for 30 grep -qx "version 2: custom_model" "$MNT/data/produced-model/status" ||
        fail "second version: $(cat "$MNT/data/produced-model/status" 2>&1)"
    # A version that exists already is refused at submission, not when the run has completed.
    local before
    before=$(ls "$DATA/runs" | wc -l)
    r=$(job | sed 's/^    name: produced-model/    name: produced-model\n    version: 2/' | write_spec "$MNT/experiments/produces/job.yaml")
    [ "$r" = EEXIST ] && grep -q "output 'model': data asset 'produced-model' has a version 2 already" "$MNT/experiments/produces/status" ||
        fail "clash: $r $(cat "$MNT/experiments/produces/status")"
    [ "$(ls "$DATA/runs" | wc -l)" = "$before" ] || fail "a refused job left a run folder"
    r=$(printf 'command: "true"\nenvironment: host\noutputs:\n  m:\n    type: uri_folder\n    path: ./elsewhere\n' |
        write_spec "$MNT/experiments/produces/job.yaml")
    [ "$r" = EINVAL ] && grep -q "output 'm': path must be a datastore path, azureml://datastores/NAME/paths/PATH" \
        "$MNT/experiments/produces/status" || fail "path: $r $(cat "$MNT/experiments/produces/status")"
}

# Two runs asking for the same new version: the second is refused at submission (it passed, and failed
# only when it came to register, after its whole job), and so is a data.yaml asking for it meanwhile.
t_a_version_a_running_run_will_register_is_refused_to_others() {
    mkdir "$MNT/experiments/claims" "$MNT/data/claimed"
    job() {
        printf '%s\n' 'command: while [ ! -e go ]; do sleep 0.1; done; echo w > ${{outputs.m}}/w.txt' \
            'environment: azureml:host@latest' 'outputs:' '  m:' '    type: uri_folder' '    name: claimed' \
            '    version: 7'
    }
    local a r
    a=$(job | submit claims) || fail "submit: $(cat "$MNT/experiments/claims/status")"
    r=$(job | write_spec "$MNT/experiments/claims/job.yaml")
    [ "$r" = EEXIST ] && grep -q "output 'm': data asset 'claimed' version 7 is to be registered by run $a" \
        "$MNT/experiments/claims/status" || fail "second run: $r $(cat "$MNT/experiments/claims/status")"
    mkdir "$MNT/data/claimed/files" && echo x > "$MNT/data/claimed/files/x.txt"
    r=$(printf 'type: uri_folder\npath: ./files\nversion: 7\n' | write_spec "$MNT/data/claimed/data.yaml")
    [ "$r" = EEXIST ] && grep -q "version 7 of data asset 'claimed' is to be registered by run $a" "$MNT/data/claimed/status" ||
        fail "data.yaml: $r $(cat "$MNT/data/claimed/status")"
    touch "$DATA/runs/$a/work/go"
    wait_status 30 "$MNT/runs/$a/status" Completed || fail "run: $(cat "$MNT/runs/$a/status")"
    wait_for 30 grep -qx "version 7: uri_folder" "$MNT/data/claimed/status" || fail "asset: $(cat "$MNT/data/claimed/status")"
    grep -qx w "$MNT/data/claimed/versions/7/w.txt" || fail "content: $(ls "$MNT/data/claimed/versions/7")"
    # Once it ended, its claim holds nothing: another version is taken by the next one as usual.
    r=$(printf 'type: uri_folder\npath: ./files\nversion: 8\n' | write_spec "$MNT/data/claimed/data.yaml")
    [ "$r" = OK ] || fail "version 8: $r $(cat "$MNT/data/claimed/status")"
}

t_a_uri_file_output_is_a_file_and_modes_are_checked_per_direction() {
    mkdir "$MNT/experiments/scores"
    id=$(submit scores <<'Y'
$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
type: command
description: Scores a model and writes one summary file and one predictions file.
command: >-
  test -d "$(dirname ${{outputs.summary}})" &&
  echo '{"accuracy": 0.93}' > ${{outputs.summary}} &&
  printf 'id,label\n1,cat\n' > ${{outputs.predictions}}
environment: azureml:host@latest
outputs:
  summary:
    type: uri_file
    mode: upload
    path: azureml://datastores/workspaceblobstore/paths/evaluations/${{name}}/summary.json
    name: eval-summary
  predictions:
    type: uri_file
    mode: rw_mount
Y
) || fail "submit: $(cat "$MNT/experiments/scores/status")"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "run: $(cat "$MNT/runs/$id/status") $(cat "$MNT/runs/$id/log")"
    grep -q '"accuracy"' "$MNT/runs/$id/outputs/summary/summary.json" || fail "outputs/summary: $(ls -R "$MNT/runs/$id/outputs")"
    [ -f "$MNT/runs/$id/outputs/predictions/predictions" ] || fail "outputs/predictions: $(ls -R "$MNT/runs/$id/outputs")"
    [ -f "$MNT/datastores/workspaceblobstore/evaluations/$id/summary.json" ] ||
        fail "the path is the file: $(ls -R "$MNT/datastores/workspaceblobstore/evaluations" 2>&1)"
    [ -f "$MNT/datastores/workspaceblobstore/azureml/$id/predictions/predictions" ] ||
        fail "default storage: $(ls -R "$MNT/datastores/workspaceblobstore/azureml/$id" 2>&1)"
    wait_for 5 grep -qx "version 1: uri_file" "$MNT/data/eval-summary/status" ||
        fail "asset: $(cat "$MNT/data/eval-summary/status" 2>&1)"
    grep -q '"accuracy"' "$MNT/data/eval-summary/versions/1/summary.json" || fail "asset content: $(ls "$MNT/data/eval-summary/versions/1")"
    # The next job reads that file as a uri_file input; a folder output's run gives no file.
    local next
    next=$(printf 'command: cat ${{inputs.s}}\nenvironment: host\ninputs:\n  s:\n    type: uri_file\n    path: azureml://jobs/%s/outputs/summary\n' "$id" |
        submit scores) || fail "submit the next job: $(cat "$MNT/experiments/scores/status")"
    wait_status 30 "$MNT/runs/$next/status" Completed || fail "next run: $(cat "$MNT/runs/$next/status") $(cat "$MNT/runs/$next/info.json")"
    grep -q '"accuracy": 0.93' "$MNT/runs/$next/log" || fail "next log: $(cat "$MNT/runs/$next/log")"
    # ... and a data.yaml registers it as a uri_file version (it was refused: "a run's output is a folder").
    mkdir "$MNT/data/picked-summary"
    local r
    r=$(printf 'type: uri_file\npath: azureml://jobs/%s/outputs/summary\n' "$id" | write_spec "$MNT/data/picked-summary/data.yaml")
    [ "$r" = OK ] && grep -qx "version 1: uri_file" "$MNT/data/picked-summary/status" ||
        fail "data.yaml of a uri_file output: $r $(cat "$MNT/data/picked-summary/status")"
    grep -q '"accuracy"' "$MNT/data/picked-summary/versions/1/summary.json" || fail "its file: $(ls "$MNT/data/picked-summary/versions/1")"
    check_mode() { # YAML MESSAGE
        local r
        r=$(printf '%s' "$1" | write_spec "$MNT/experiments/scores/job.yaml")
        [ "$r" = EINVAL ] && grep -qF "$2" "$MNT/experiments/scores/status" || fail "[$1]: $r $(cat "$MNT/experiments/scores/status")"
    }
    check_mode 'command: "true"
environment: host
outputs:
  m:
    type: uri_folder
    mode: ro_mount
' "output 'm' has mode 'ro_mount'; an output's mode is rw_mount or upload"
    check_mode 'command: "true"
environment: host
inputs:
  d:
    type: uri_folder
    path: azureml:eval-summary@latest
    mode: direct
' "input 'd' has mode 'direct'; an input's mode is ro_mount or download"
    check_mode 'command: "true"
environment: host
outputs:
  m:
    type: uri_file
    path: azureml://datastores/workspaceblobstore/paths/evaluations/
' "output 'm' is a uri_file: its path names the file, azureml://datastores/NAME/paths/FOLDER/FILE"
}

t_an_evaluation_job_reads_a_model_and_a_data_asset_and_writes_named_outputs() {
    local corpus=$ROOT/tests/data/job-evaluate id
    mkdir "$MNT/data/digits-model" "$MNT/data/digits-model/files" "$MNT/data/digits-test" "$MNT/data/digits-test/files"
    cp "$corpus"/model/* "$MNT/data/digits-model/files/" && cp "$corpus"/test-set/* "$MNT/data/digits-test/files/" || fail "copy"
    printf 'name: digits-model\ntype: custom_model\npath: ./files\ndescription: the trained digits model\n' > "$MNT/data/digits-model/data.yaml" ||
        fail "model: $(cat "$MNT/data/digits-model/status")"
    printf 'name: digits-test\ntype: uri_folder\npath: ./files\ntags:\n  split: test\n' > "$MNT/data/digits-test/data.yaml" ||
        fail "test set: $(cat "$MNT/data/digits-test/status")"
    mkdir "$MNT/experiments/evaluate"
    cp -r "$corpus/src" "$MNT/experiments/evaluate/" || fail "copy code"
    id=$(submit evaluate < "$corpus/job.yaml") || fail "submit: $(cat "$MNT/experiments/evaluate/status")"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "run: $(cat "$MNT/runs/$id/status") $(cat "$MNT/runs/$id/log")"
    grep -qx "model digits-logreg on 5 rows: accuracy 1.0" "$MNT/runs/$id/log" &&
        grep -qx "metrics file's folder exists: True" "$MNT/runs/$id/log" || fail "log: $(cat "$MNT/runs/$id/log")"
    grep -q '"split": "test"' "$MNT/runs/$id/outputs/metrics/metrics" || fail "metrics: $(ls -R "$MNT/runs/$id/outputs")"
    grep -qx "class 1: 3 of 3 right" "$MNT/datastores/workspaceblobstore/evaluations/$id/reports/class-1.txt" ||
        fail "reports: $(ls -R "$MNT/datastores/workspaceblobstore/evaluations" 2>&1)"
    wait_for 5 grep -qx "version 1: uri_file" "$MNT/data/digits-eval-metrics/status" ||
        fail "metrics asset: $(cat "$MNT/data/digits-eval-metrics/status" 2>&1)"
    grep -q '"accuracy": 1.0' "$MNT/data/digits-eval-metrics/versions/1/metrics" || fail "asset content"
    grep -q "ignored here: resources.instance_type, identity" "$MNT/experiments/evaluate/status" ||
        fail "status: $(cat "$MNT/experiments/evaluate/status")"
}

t_an_output_without_a_path_is_kept_in_the_run_s_storage_and_feeds_later_jobs() {
    mkdir "$MNT/experiments/chain"
    a=$(submit chain <<'Y'
command: >-
  echo "trained by $AZUREML_RUN_ID" > ${{outputs.model}}/weights.txt &&
  echo "metrics" > ${{outputs.report}}/summary.txt
environment: azureml:host@latest
outputs:
  model:
    type: uri_folder
  report:
    type: uri_folder
    path: azureml://datastores/workspaceblobstore/paths/reports/${{name}}/${{output_name}}
Y
) || fail "submit: $(cat "$MNT/experiments/chain/status")"
    wait_status 30 "$MNT/runs/$a/status" Completed || fail "run: $(cat "$MNT/runs/$a/status") $(cat "$MNT/runs/$a/info.json")"
    grep -qx "trained by $a" "$MNT/runs/$a/outputs/model/weights.txt" || fail "outputs/model"
    grep -qx "trained by $a" "$MNT/datastores/workspaceblobstore/azureml/$a/model/weights.txt" ||
        fail "workspaceblobstore azureml/$a/model: $(ls -R "$MNT/datastores/workspaceblobstore" 2>&1)"
    grep -qx metrics "$MNT/datastores/workspaceblobstore/reports/$a/report/summary.txt" ||
        fail "\${{name}}/\${{output_name}} path: $(ls -R "$MNT/datastores/workspaceblobstore/reports" 2>&1)"
    b=$(printf 'command: cat ${{inputs.model}}/weights.txt\nenvironment: host\ninputs:\n  model:\n    type: uri_folder\n    path: azureml://jobs/%s/outputs/model\n' "$a" |
        submit chain) || fail "submit b: $(cat "$MNT/experiments/chain/status")"
    wait_status 30 "$MNT/runs/$b/status" Completed || fail "run b: $(cat "$MNT/runs/$b/status") $(cat "$MNT/runs/$b/info.json")"
    grep -qx "trained by $a" "$MNT/runs/$b/log" || fail "log b: $(cat "$MNT/runs/$b/log")"
    [ "$(ls "$MNT/runs/$b/inputs")" = model ] && grep -qx "trained by $a" "$MNT/runs/$b/inputs/model/weights.txt" ||
        fail "inputs/ of run b: $(ls -R "$MNT/runs/$b/inputs" 2>&1)"
    (echo x > "$MNT/runs/$b/inputs/model/new.txt") 2>/dev/null && fail "inputs/ took a write"
    r=$(printf 'command: ls ${{inputs.m}}\nenvironment: host\ninputs:\n  m:\n    type: uri_folder\n    path: azureml://jobs/no-such-run/outputs/model\n' |
        write_spec "$MNT/experiments/chain/job.yaml")
    [ "$r" = ENOENT ] && grep -q "input 'm': run 'no-such-run' not found" "$MNT/experiments/chain/status" ||
        fail "missing run: $r $(cat "$MNT/experiments/chain/status")"
    r=$(printf 'command: "true"\nenvironment: host\noutputs:\n  m:\n    type: uri_folder\n    path: azureml://datastores/workspaceblobstore/paths/x/${{inputs.m}}\n' |
        write_spec "$MNT/experiments/chain/job.yaml")
    [ "$r" = EINVAL ] && grep -q "output 'm': a path may use \${{name}} (the run id) and \${{output_name}}" "$MNT/experiments/chain/status" ||
        fail "expression: $r $(cat "$MNT/experiments/chain/status")"
}

t_a_data_asset_is_registered_from_an_https_file_a_datastore_path_or_a_run_output() {
    printf 'sepal,petal\n5.1,1.4\n4.9,1.4\n' > "$T/www/iris.csv"
    mkdir "$MNT/data/iris-web"
    printf 'type: uri_file\npath: %s/iris.csv\ndescription: from the web\n' "$HTTP" > "$MNT/data/iris-web/data.yaml" ||
        fail "https: $(cat "$MNT/data/iris-web/status")"
    grep -qx "version 1: uri_file" "$MNT/data/iris-web/status" && cmp -s "$T/www/iris.csv" "$MNT/data/iris-web/versions/1/iris.csv" ||
        fail "https version: $(cat "$MNT/data/iris-web/status"; ls "$MNT/data/iris-web/versions/1" 2>&1)"
    r=$(printf 'type: uri_file\npath: %s/gone.csv\n' "$HTTP" | write_spec "$MNT/data/iris-web/data.yaml")
    [ "$r" != OK ] && grep -q "GET $HTTP/gone.csv answered HTTP 404" "$MNT/data/iris-web/status" ||
        fail "404: $r $(cat "$MNT/data/iris-web/status")"
    [ "$(ls "$MNT/data/iris-web/versions")" = 1 ] || fail "a refused version was made: $(ls "$MNT/data/iris-web/versions")"
    mkdir -p "$DATA/datastores/workspaceblobstore/sets/digits"
    seq 1 10 > "$DATA/datastores/workspaceblobstore/sets/digits/part-0.txt"
    mkdir "$MNT/data/digits"
    printf 'type: uri_folder\npath: azureml://datastores/workspaceblobstore/paths/sets/digits\n' > "$MNT/data/digits/data.yaml" ||
        fail "datastore: $(cat "$MNT/data/digits/status")"
    [ "$(wc -l < "$MNT/data/digits/versions/1/part-0.txt")" = 10 ] || fail "datastore version: $(ls -R "$MNT/data/digits" 2>&1)"
    r=$(printf 'type: uri_folder\npath: azureml://datastores/workspaceblobstore/paths/sets/none\n' | write_spec "$MNT/data/digits/data.yaml")
    [ "$r" = ENOENT ] || fail "missing datastore path: $r $(cat "$MNT/data/digits/status")"
    mkdir "$MNT/experiments/asset-from-run" "$MNT/data/from-run"
    id=$(printf 'command: echo w > ${{outputs.model}}/w.txt\nenvironment: host\noutputs:\n  model:\n    type: uri_folder\n' |
        submit asset-from-run) || fail "submit: $(cat "$MNT/experiments/asset-from-run/status")"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "run: $(cat "$MNT/runs/$id/status")"
    printf 'type: uri_folder\npath: azureml://jobs/%s/outputs/model\n' "$id" > "$MNT/data/from-run/data.yaml" ||
        fail "from a run: $(cat "$MNT/data/from-run/status")"
    grep -qx w "$MNT/data/from-run/versions/1/w.txt" || fail "run output version: $(ls -R "$MNT/data/from-run")"
}

start_http || { echo "0 passed, 1 failed"; exit 1; }
mount_ws || { echo "0 passed, 1 failed"; exit 1; }
make_host_env host || { echo "0 passed, 1 failed"; exit 1; }
run_cases
