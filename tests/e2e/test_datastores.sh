#!/usr/bin/env bash
# test_datastores.sh: datastores through the mount: workspaceblobstore (the workspace's own storage) and
# an azure_blob datastore on Azurite: datastore.yaml checked against the container (a wrong key refused),
# its files browsable read-only with ranged reads, credentials never shown, datastore paths as job inputs.
. "$(dirname "$0")/../lib/e2e.sh"
. "$(dirname "$0")/../lib/azurite.sh"
. "$(dirname "$0")/../lib/http.sh"

test_cleanup() { azurite_stop; stop_http; }

# Shared Key requests to Azurite, for the test's own setup (containers and blobs), with Python's
# standard library only.
blob_request() { # METHOD CONTAINER [BLOB FILE]: PUT or DELETE the container, or PUT FILE as BLOB
    python3 - "$AZURITE_BLOB_URL" "$AZURITE_ACCOUNT" "$AZURITE_KEY" "$@" <<'PY'
import base64, hashlib, hmac, sys, urllib.request
from email.utils import formatdate
url, account, key, method, container = sys.argv[1:6]
blob = sys.argv[6] if len(sys.argv) > 6 else None
body = open(sys.argv[7], "rb").read() if blob else b""
path = f"/{container}" + (f"/{blob}" if blob else "")
query = {} if blob else {"restype": "container"}
headers = {"x-ms-date": formatdate(usegmt=True), "x-ms-version": "2021-08-06"}
if blob:
    headers["x-ms-blob-type"] = "BlockBlob"
canon_headers = "".join(f"{k}:{headers[k]}\n" for k in sorted(headers))
canon_res = f"/{account}/{account}{path}" + "".join(f"\n{k}:{v}" for k, v in sorted(query.items()))
length = str(len(body)) if body else ""
ctype = "application/octet-stream"  # urllib would add a form type otherwise, which the signature must name
to_sign = "\n".join([method, "", "", length, "", ctype, "", "", "", "", "", ""]) + "\n" + canon_headers + canon_res
sig = base64.b64encode(hmac.new(base64.b64decode(key), to_sign.encode(), hashlib.sha256).digest()).decode()
headers["Authorization"] = f"SharedKey {account}:{sig}"
headers["Content-Type"] = ctype
q = "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""
req = urllib.request.Request(url + path + q, data=body, method=method, headers=headers)
urllib.request.urlopen(req).read()
PY
}
blob_put() { blob_request PUT "$@"; } # CONTAINER [BLOB FILE]

datastore_yaml() { # NAME KEY [CONTAINER]
    cat <<Y
\$schema: https://azuremlschemas.azureedge.net/latest/azureBlob.schema.json
name: $1
type: azure_blob
description: Training data on the team's storage account.
account_name: $AZURITE_ACCOUNT
container_name: ${3:-training}
endpoint: $AZURITE_BLOB_URL
credentials:
  account_key: $2
Y
}

t_workspaceblobstore_is_there_and_its_paths_are_inputs() {
    ls "$MNT/datastores" | grep -qx workspaceblobstore || fail "listing: $(ls "$MNT/datastores")"
    mkdir -p "$DATA/datastores/workspaceblobstore/shared/set"
    printf 'a\nb\nc\n' > "$DATA/datastores/workspaceblobstore/shared/set/rows.txt"
    [ "$(cat "$MNT/datastores/workspaceblobstore/shared/set/rows.txt" | wc -l)" = 3 ] || fail "read"
    mkdir "$MNT/experiments/wbs"
    id=$(submit wbs <<'Y'
command: wc -l < ${{inputs.set}}/rows.txt
environment: azureml:host@latest
inputs:
  set:
    type: uri_folder
    path: azureml://datastores/workspaceblobstore/paths/shared/set
Y
) || fail "submit: $(cat "$MNT/experiments/wbs/status")"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "run: $(cat "$MNT/runs/$id/status") $(cat "$MNT/runs/$id/info.json")"
    grep -qx 3 "$MNT/runs/$id/log" || fail "log: $(cat "$MNT/runs/$id/log")"
    r=$(printf 'command: ls ${{inputs.d}}\nenvironment: host\ninputs:\n  d:\n    type: uri_folder\n    path: azureml://datastores/workspaceblobstore/paths/shared/none\n' |
        write_spec "$MNT/experiments/wbs/job.yaml")
    [ "$r" = ENOENT ] && grep -q "input 'd': datastore 'workspaceblobstore' has no 'shared/none'" "$MNT/experiments/wbs/status" ||
        fail "missing path: $r $(cat "$MNT/experiments/wbs/status")"
}

t_an_azure_blob_datastore_is_browsed_and_used_as_an_input() {
    blob_put training || fail "container"
    printf 'x,y\n1,2\n' > "$T/part-0.csv"
    seq 1 100000 > "$T/big.txt"
    blob_put training images/part-0.csv "$T/part-0.csv" && blob_put training images/big.txt "$T/big.txt" &&
        blob_put training readme.txt "$T/part-0.csv" || fail "blobs"
    mkdir "$MNT/datastores/team"
    r=$(datastore_yaml team "$(printf 'wrongkey%.0s' 1 2 3 4 | base64 -w0)" | write_spec "$MNT/datastores/team/datastore.yaml")
    [ "$r" = EACCES ] || fail "wrong key: $r ($(cat "$MNT/datastores/team/status"))"
    grep -q "^Rejected: .*$AZURITE_ACCOUNT" "$MNT/datastores/team/status" || fail "why: $(cat "$MNT/datastores/team/status")"
    datastore_yaml team "$AZURITE_KEY" > "$MNT/datastores/team/datastore.yaml" || fail "write"
    grep -qx azure_blob "$MNT/datastores/team/status" || fail "status: $(cat "$MNT/datastores/team/status")"
    grep -q 'account_key: "\*\*\*"' "$MNT/datastores/team/datastore.yaml" || fail "the key is shown: $(cat "$MNT/datastores/team/datastore.yaml")"
    ! grep -rq "$AZURITE_KEY" "$MNT/datastores/team/datastore.yaml" || fail "the key leaked"
    ls "$MNT/datastores/team" | grep -qx images || fail "listing: $(ls "$MNT/datastores/team")"
    [ "$(ls "$MNT/datastores/team/images" | tr '\n' ' ')" = "big.txt part-0.csv " ] || fail "folder: $(ls "$MNT/datastores/team/images")"
    cmp "$T/big.txt" "$MNT/datastores/team/images/big.txt" || fail "a large file read through ranges differs"
    [ "$(tail -c 7 "$MNT/datastores/team/images/big.txt")" = "$(tail -c 7 "$T/big.txt")" ] || fail "tail"
    (echo x > "$MNT/datastores/team/new.txt") 2>/dev/null && fail "a write went through"
    mkdir "$MNT/experiments/fromblob"
    id=$(submit fromblob <<'Y'
command: cat ${{inputs.images}}/part-0.csv; wc -l < ${{inputs.images}}/big.txt; cat ${{inputs.readme}}
environment: azureml:host@latest
inputs:
  images:
    type: uri_folder
    path: azureml://datastores/team/paths/images/
  readme:
    type: uri_file
    path: azureml://datastores/team/paths/readme.txt
Y
) || fail "submit: $(cat "$MNT/experiments/fromblob/status")"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "run: $(cat "$MNT/runs/$id/status") $(cat "$MNT/runs/$id/info.json")"
    grep -qx 100000 "$MNT/runs/$id/log" && [ "$(grep -c '^x,y' "$MNT/runs/$id/log")" = 2 ] || fail "log: $(cat "$MNT/runs/$id/log")"
    # A path that is not there is refused at submission (it was a run that failed later), nothing made.
    local before
    before=$(ls "$DATA/runs" | wc -l)
    r=$(printf 'command: ls ${{inputs.d}}\nenvironment: host\ninputs:\n  d:\n    type: uri_folder\n    path: azureml://datastores/team/paths/nothing-here\n' |
        write_spec "$MNT/experiments/fromblob/job.yaml")
    [ "$r" = ENOENT ] && grep -q "line 6 column 11: input 'd': datastore 'team' has nothing under 'nothing-here'" "$MNT/experiments/fromblob/status" ||
        fail "missing path: $r $(cat "$MNT/experiments/fromblob/status")"
    r=$(printf 'command: cat ${{inputs.f}}\nenvironment: host\ninputs:\n  f:\n    type: uri_file\n    path: azureml://datastores/team/paths/images/none.csv\n' |
        write_spec "$MNT/experiments/fromblob/job.yaml")
    [ "$r" = ENOENT ] && grep -q "input 'f': datastore 'team' has no file 'images/none.csv'" "$MNT/experiments/fromblob/status" ||
        fail "missing file: $r $(cat "$MNT/experiments/fromblob/status")"
    [ "$(ls "$DATA/runs" | wc -l)" = "$before" ] || fail "a refused job left a run folder"
    r=$(printf 'command: ls ${{inputs.d}}\nenvironment: host\ninputs:\n  d:\n    type: uri_folder\n    path: azureml://datastores/nope/paths/x\n' |
        write_spec "$MNT/experiments/fromblob/job.yaml")
    [ "$r" = ENOENT ] && grep -q "datastore 'nope' not found: mkdir datastores/nope" "$MNT/experiments/fromblob/status" ||
        fail "missing datastore: $r $(cat "$MNT/experiments/fromblob/status")"
}

t_a_datastore_yaml_read_back_and_saved_again_keeps_its_key() {
    printf 'n\n' > "$T/notes.txt"
    blob_put roundtrip && blob_put roundtrip notes.txt "$T/notes.txt" || fail "blobs"
    mkdir "$MNT/datastores/rt"
    datastore_yaml rt "$AZURITE_KEY" roundtrip > "$MNT/datastores/rt/datastore.yaml" || fail "write: $(cat "$MNT/datastores/rt/status")"
    # What an editor does: read the file (the key shows as "***"), change a line, save it whole.
    sed 's/^description: .*/description: edited in vim/' "$MNT/datastores/rt/datastore.yaml" > "$T/rt.yaml"
    grep -q 'account_key: "\*\*\*"' "$T/rt.yaml" || fail "read back: $(cat "$T/rt.yaml")"
    r=$(write_spec "$MNT/datastores/rt/datastore.yaml" < "$T/rt.yaml")
    [ "$r" = OK ] || fail "saving the file as read: $r $(cat "$MNT/datastores/rt/status")"
    grep -q "^description: edited in vim" "$MNT/datastores/rt/datastore.yaml" || fail "the edit: $(cat "$MNT/datastores/rt/datastore.yaml")"
    grep -q 'account_key: "\*\*\*"' "$MNT/datastores/rt/datastore.yaml" || fail "shown after the save"
    ls "$MNT/datastores/rt" | grep -qx notes.txt || fail "the key was lost: $(ls "$MNT/datastores/rt" 2>&1; cat "$MNT/datastores/rt/status")"
    # Saved twice: still the key, not "***" kept as the key.
    write_spec "$MNT/datastores/rt/datastore.yaml" < "$T/rt.yaml" | grep -qx OK || fail "second save: $(cat "$MNT/datastores/rt/status")"
    ls "$MNT/datastores/rt" | grep -qx notes.txt || fail "the key was lost by a second save"
    mkdir "$MNT/datastores/fresh"
    r=$(datastore_yaml fresh '"***"' roundtrip | write_spec "$MNT/datastores/fresh/datastore.yaml")
    [ "$r" = EINVAL ] && grep -q "account_key is \*\*\*, but datastore 'fresh' has no account_key stored: write the key itself" \
        "$MNT/datastores/fresh/status" || fail "*** with nothing stored: $r $(cat "$MNT/datastores/fresh/status")"
}

t_outputs_with_a_datastore_path_are_copied_there_when_the_job_ends_well() {
    ensure_team || fail "datastore team: $(cat "$MNT/datastores/team/status")"
    mkdir "$MNT/experiments/toblob"
    id=$(submit toblob <<'Y'
command: mkdir -p ${{outputs.model}}/sub && echo weights > ${{outputs.model}}/sub/w.txt && echo summary > ${{outputs.report}}/report.txt
environment: azureml:host@latest
outputs:
  model:
    type: uri_folder
    mode: upload
    path: azureml://datastores/team/paths/results/model
  report:
    type: uri_folder
    path: azureml://datastores/workspaceblobstore/paths/reports/latest
Y
) || fail "submit: $(cat "$MNT/experiments/toblob/status")"
    wait_status 30 "$MNT/runs/$id/status" Completed || fail "run: $(cat "$MNT/runs/$id/status") $(cat "$MNT/runs/$id/info.json")"
    wait_for 5 test -e "$MNT/datastores/team/results/model/sub/w.txt" || fail "blob: $(ls -R "$MNT/datastores/team" 2>&1)"
    grep -qx weights "$MNT/datastores/team/results/model/sub/w.txt" || fail "blob content"
    grep -qx summary "$MNT/datastores/workspaceblobstore/reports/latest/report.txt" || fail "workspaceblobstore"
    r=$(printf 'command: "true"\nenvironment: host\noutputs:\n  m:\n    type: uri_folder\n    path: azureml://datastores/nope/paths/m\n' |
        write_spec "$MNT/experiments/toblob/job.yaml")
    [ "$r" = ENOENT ] && grep -q "output 'm': datastore 'nope' not found" "$MNT/experiments/toblob/status" ||
        fail "missing datastore: $r $(cat "$MNT/experiments/toblob/status")"
}

# The team datastore on Azurite, whatever ran before.
ensure_team() {
    [ -e "$MNT/datastores/team/datastore.yaml" ] && grep -qx azure_blob "$MNT/datastores/team/status" && return 0
    mkdir -p "$MNT/datastores/team" && blob_put training 2>/dev/null
    datastore_yaml team "$AZURITE_KEY" > "$MNT/datastores/team/datastore.yaml"
}

t_a_datastore_output_that_cannot_be_copied_fails_the_run_with_the_reason() {
    blob_put doomed || fail "container"
    mkdir "$MNT/datastores/doomed"
    datastore_yaml doomed "$AZURITE_KEY" doomed > "$MNT/datastores/doomed/datastore.yaml" || fail "datastore"
    blob_request DELETE doomed || fail "delete the container"
    mkdir "$MNT/experiments/lost"
    id=$(submit lost <<'Y'
command: echo weights > ${{outputs.model}}/w.txt
environment: azureml:host@latest
outputs:
  model:
    type: uri_folder
    path: azureml://datastores/doomed/paths/models/${{name}}
Y
) || fail "submit: $(cat "$MNT/experiments/lost/status")"
    wait_status 30 "$MNT/runs/$id/status" Failed || fail "run: $(cat "$MNT/runs/$id/status")"
    grep -q "output 'model': copying it to azureml://datastores/doomed/paths/models/$id failed: container 'doomed' does not exist" \
        "$MNT/runs/$id/info.json" || fail "why: $(cat "$MNT/runs/$id/info.json")"
    grep -qx weights "$MNT/runs/$id/outputs/model/w.txt" || fail "the output was not kept in the run"
}

# The done-when of the data issue: one job file as an az ml user writes it (tests/data/job-all-sources)
# reads a folder of the experiment, a registered data asset, a blob datastore folder and a file over
# HTTP(S), and writes a named output; only the URL's host is this test's web server.
t_one_job_reads_every_kind_of_source_and_writes_a_named_output() {
    ensure_team || fail "datastore team: $(cat "$MNT/datastores/team/status")"
    printf 'user_id,event\n1,login\n2,login\n' > "$T/ev-0.csv"
    printf 'user_id,event\n1,cancel\n' > "$T/ev-1.csv"
    blob_put training exports/events/day=1/part-0.csv "$T/ev-0.csv" &&
        blob_put training exports/events/day=2/part-0.csv "$T/ev-1.csv" || fail "blobs"
    mkdir -p "$T/www/published"
    printf 'date,name\n2026-12-25,Christmas\n2026-01-01,New Year\n' > "$T/www/published/holidays.csv"
    mkdir -p "$MNT/data/churn-vocab/files"
    printf 'basic\npro\nteam\n' > "$MNT/data/churn-vocab/files/plans.txt"
    printf 'type: uri_file\npath: ./files/plans.txt\n' > "$MNT/data/churn-vocab/data.yaml" ||
        fail "asset: $(cat "$MNT/data/churn-vocab/status")"
    corpus=$ROOT/tests/data/job-all-sources
    mkdir "$MNT/experiments/churn"
    cp -r "$corpus/src" "$corpus/data" "$MNT/experiments/churn/" || fail "copy the code"
    sed "s|https://data.example.org|$HTTP|" "$corpus/job.yaml" > "$MNT/experiments/churn/job.yaml" ||
        fail "job.yaml refused: $(cat "$MNT/experiments/churn/status")"
    id=$(sed -n 's/^submitted \([^ ]*\).*/\1/p' "$MNT/experiments/churn/status")
    [ -n "$id" ] || fail "status: $(cat "$MNT/experiments/churn/status")"
    wait_status 60 "$MNT/runs/$id/status" Completed || fail "run: $(cat "$MNT/runs/$id/status") $(cat "$MNT/runs/$id/info.json") $(cat "$MNT/runs/$id/log")"
    log=$(cat "$MNT/runs/$id/log")
    echo "$log" | grep -qx "customers 5 vocab 3 events 5 holidays 2" || fail "log: $log"
    [ "$(echo "$log" | grep -c "read-only: True")" = 4 ] || fail "inputs not read-only: $log"
    [ "$(ls "$MNT/runs/$id/inputs" | tr '\n' ' ')" = "events holidays shards vocab " ] || fail "inputs/: $(ls "$MNT/runs/$id/inputs")"
    cmp -s "$T/ev-1.csv" "$MNT/runs/$id/inputs/events/day=2/part-0.csv" || fail "inputs/events: $(ls -R "$MNT/runs/$id/inputs/events")"
    cmp -s "$T/www/published/holidays.csv" "$MNT/runs/$id/inputs/holidays/holidays.csv" || fail "inputs/holidays"
    cmp -s "$corpus/data/customers-1.csv" "$MNT/runs/$id/inputs/shards/customers-1.csv" || fail "inputs/shards"
    grep -q '"learning_rate": 0.05' "$MNT/runs/$id/outputs/model/model.json" || fail "outputs/model"
    wait_for 5 grep -qx "version 1: custom_model" "$MNT/data/churn-model/status" || fail "asset: $(cat "$MNT/data/churn-model/status" 2>&1)"
    cmp -s "$MNT/runs/$id/outputs/model/model.json" "$MNT/data/churn-model/versions/1/model.json" || fail "asset content"
    cmp -s "$MNT/runs/$id/outputs/model/model.json" "$MNT/datastores/workspaceblobstore/azureml/$id/model/model.json" ||
        fail "workspaceblobstore: $(ls -R "$MNT/datastores/workspaceblobstore/azureml" 2>&1)"
}

if ! azurite_available 2>"$T/why"; then
    echo "skipped: $(cat "$T/why")"
    echo "0 passed, 0 failed, $(declare -F | grep -c ' t_') skipped"
    exit 0
fi
azurite_start "$T/azurite" || { echo "azurite did not start"; echo "0 passed, 1 failed"; exit 1; }
start_http || { echo "0 passed, 1 failed"; exit 1; }
mount_ws || { echo "0 passed, 1 failed"; exit 1; }
make_host_env host || { echo "0 passed, 1 failed"; exit 1; }
run_cases
