#!/usr/bin/env bash
# test_datastores.sh: datastores through the mount: workspaceblobstore (the workspace's own storage) and
# an azure_blob datastore on Azurite: datastore.yaml checked against the container (a wrong key refused),
# its files browsable read-only with ranged reads, credentials never shown, datastore paths as job inputs.
. "$(dirname "$0")/../lib/e2e.sh"
. "$(dirname "$0")/../lib/azurite.sh"

test_cleanup() { azurite_stop; }

# Shared Key requests to Azurite, for the test's own setup (a container and blobs), with Python's
# standard library only.
blob_put() { # CONTAINER [BLOB FILE]: create the container, or upload FILE as BLOB
    python3 - "$AZURITE_BLOB_URL" "$AZURITE_ACCOUNT" "$AZURITE_KEY" "$@" <<'PY'
import base64, hashlib, hmac, sys, urllib.request
from email.utils import formatdate
url, account, key, container = sys.argv[1:5]
blob = sys.argv[5] if len(sys.argv) > 5 else None
body = open(sys.argv[6], "rb").read() if blob else b""
path = f"/{container}" + (f"/{blob}" if blob else "")
query = {} if blob else {"restype": "container"}
headers = {"x-ms-date": formatdate(usegmt=True), "x-ms-version": "2021-08-06"}
if blob:
    headers["x-ms-blob-type"] = "BlockBlob"
canon_headers = "".join(f"{k}:{headers[k]}\n" for k in sorted(headers))
canon_res = f"/{account}/{account}{path}" + "".join(f"\n{k}:{v}" for k, v in sorted(query.items()))
length = str(len(body)) if body else ""
ctype = "application/octet-stream"  # urllib would add a form type otherwise, which the signature must name
to_sign = "\n".join(["PUT", "", "", length, "", ctype, "", "", "", "", "", ""]) + "\n" + canon_headers + canon_res
sig = base64.b64encode(hmac.new(base64.b64decode(key), to_sign.encode(), hashlib.sha256).digest()).decode()
headers["Authorization"] = f"SharedKey {account}:{sig}"
headers["Content-Type"] = ctype
q = "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""
req = urllib.request.Request(url + path + q, data=body, method="PUT", headers=headers)
urllib.request.urlopen(req).read()
PY
}

datastore_yaml() { # NAME KEY
    cat <<Y
\$schema: https://azuremlschemas.azureedge.net/latest/azureBlob.schema.json
name: $1
type: azure_blob
description: Training data on the team's storage account.
account_name: $AZURITE_ACCOUNT
container_name: training
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
    id=$(printf 'command: ls ${{inputs.d}}\nenvironment: host\ninputs:\n  d:\n    type: uri_folder\n    path: azureml://datastores/team/paths/nothing-here\n' |
        submit fromblob) || fail "submit missing"
    wait_status 30 "$MNT/runs/$id/status" Failed || fail "missing path: $(cat "$MNT/runs/$id/status")"
    grep -q "datastore 'team' has nothing under 'nothing-here'" "$MNT/runs/$id/info.json" || fail "why: $(cat "$MNT/runs/$id/info.json")"
    r=$(printf 'command: ls ${{inputs.d}}\nenvironment: host\ninputs:\n  d:\n    type: uri_folder\n    path: azureml://datastores/nope/paths/x\n' |
        write_spec "$MNT/experiments/fromblob/job.yaml")
    [ "$r" = ENOENT ] && grep -q "datastore 'nope' not found: mkdir datastores/nope" "$MNT/experiments/fromblob/status" ||
        fail "missing datastore: $r $(cat "$MNT/experiments/fromblob/status")"
}

t_outputs_with_a_datastore_path_are_copied_there_when_the_job_ends_well() {
    [ -e "$MNT/datastores/team/datastore.yaml" ] && grep -qx azure_blob "$MNT/datastores/team/status" || {
        mkdir -p "$MNT/datastores/team" && blob_put training 2>/dev/null
        datastore_yaml team "$AZURITE_KEY" > "$MNT/datastores/team/datastore.yaml" || fail "datastore"
    }
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

if ! azurite_available 2>"$T/why"; then
    echo "skipped: $(cat "$T/why")"
    echo "0 passed, 0 failed, $(declare -F | grep -c ' t_') skipped"
    exit 0
fi
azurite_start "$T/azurite" || { echo "azurite did not start"; echo "0 passed, 1 failed"; exit 1; }
mount_ws || { echo "0 passed, 1 failed"; exit 1; }
make_host_env host || { echo "0 passed, 1 failed"; exit 1; }
run_cases
