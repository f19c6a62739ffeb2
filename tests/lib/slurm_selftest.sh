# slurm_selftest.sh: checks tests/lib/slurm.sh itself: start a private cluster, run a job through the
# REST API, restart slurmrestd, stop, and prove nothing is left running. Usage: bash slurm_selftest.sh [ROUNDS]
set -u
# shellcheck source-path=SCRIPTDIR source=slurm.sh
. "$(dirname "${BASH_SOURCE[0]}")/slurm.sh"

if ! slurm_available 2>/dev/null; then
    echo "SKIP: $SLURM_UNAVAILABLE_REASON"
    exit 0
fi

rounds=${1:-1}
passed=0
failed=0
ms() { echo $(( $(date +%s%N) / 1000000 )); }

# rest METHOD PATH [curl args]: the body, then a last line "HTTP <code>".
rest() {
    local m=$1 p=$2
    shift 2
    curl -s -m 30 -w '\nHTTP %{http_code}\n' -X "$m" -H "X-SLURM-USER-NAME: $SLURM_USER" \
        -H "X-SLURM-USER-TOKEN: $(cat "$SLURM_TOKEN_FILE")" -H 'Content-Type: application/json' \
        "$SLURM_REST_URL$p" "$@"
}

job_state() {
    rest GET "/slurm/v0.0.38/job/$1" | sed -n 's/^ *"job_state": "\([A-Z_]*\)".*/\1/p'
}
state_is() { [ "$(job_state "$1")" = "$2" ]; }

# Anything still running that belongs to DIR: a daemon with DIR in its arguments or a slurmstepd.
leftovers() {
    pgrep -af -- "$1/"
    _slurm_steps "$1"
}

round() {
    local dir t0 started job out body
    dir=$(mktemp -d /tmp/slurm-selftest.XXXXXX)
    t0=$(ms)
    if ! slurm_start "$dir"; then
        echo "FAIL: slurm_start"
        slurm_stop
        return 1
    fi
    started=$(( $(ms) - t0 ))

    out=$dir/job.out
    # shellcheck disable=SC2016 # $SLURM_JOB_ID is for the job's shell
    body=$(printf '{"script": "#!/bin/sh\\necho hello from $SLURM_JOB_ID on $SLURMD_NODENAME\\n", "job": {"name": "selftest", "partition": "%s", "current_working_directory": "%s", "environment": {"PATH": "/usr/bin:/bin"}, "standard_output": "%s", "time_limit": 1, "memory_per_node": 100}}' \
        "$SLURM_PARTITION" "$dir" "$out")
    job=$(rest POST /slurm/v0.0.38/job/submit -d "$body" | sed -n 's/^ *"job_id": \([0-9]*\).*/\1/p')
    if [ -z "$job" ]; then
        echo "FAIL: submit gave no job_id"
        slurm_stop
        return 1
    fi
    t0=$(ms)
    if ! _slurm_wait 30 state_is "$job" COMPLETED; then
        echo "FAIL: job $job not COMPLETED (state $(job_state "$job"))"
        slurm_stop
        return 1
    fi
    local ran=$(( $(ms) - t0 ))
    if ! grep -q "hello from $job on $SLURM_NODE" "$out"; then
        echo "FAIL: job output: $(cat "$out" 2>&1)"
        slurm_stop
        return 1
    fi

    # slurmrestd alone goes down and comes back on the same URL with the same token.
    slurmrestd_stop
    if rest GET /slurm/v0.0.38/ping | grep -q '"UP"'; then
        echo "FAIL: slurmrestd still answers after slurmrestd_stop"
        slurm_stop
        return 1
    fi
    if ! slurmrestd_start || ! state_is "$job" COMPLETED; then
        echo "FAIL: slurmrestd did not come back"
        slurm_stop
        return 1
    fi

    # A running job must not survive slurm_stop.
    body=$(printf '{"script": "#!/bin/sh\\nsleep 300\\n", "job": {"name": "sleeper", "current_working_directory": "%s", "environment": {"PATH": "/usr/bin:/bin"}}}' "$dir")
    job=$(rest POST /slurm/v0.0.38/job/submit -d "$body" | sed -n 's/^ *"job_id": \([0-9]*\).*/\1/p')
    _slurm_wait 10 state_is "$job" RUNNING || echo "note: sleeper job $job not RUNNING before stop"

    t0=$(ms)
    slurm_stop
    local stopped=$(( $(ms) - t0 ))
    slurm_stop # twice must be harmless
    if [ -n "$(leftovers "$dir")" ]; then
        echo "FAIL: left running after slurm_stop:"
        leftovers "$dir"
        return 1
    fi
    rm -rf "$dir"
    echo "ok: start ${started} ms, job to COMPLETED ${ran} ms, stop ${stopped} ms"
    return 0
}

for _ in $(seq "$rounds"); do
    if round; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
