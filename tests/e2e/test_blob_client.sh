#!/usr/bin/env bash
# test_blob_client.sh: the blob client (src/data/blob*.c) against a real Blob service, Azurite
# (tests/lib/azurite.sh): build/tests/check_blob uploads, lists, reads and downloads through it and checks
# every refusal; then Azurite must be gone. Skips, saying why, when Azurite cannot be had (no node/npm).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
. "$ROOT/tests/lib/azurite.sh"

T=$(mktemp -d /tmp/amlfs-blob.XXXXXX)
check_pid=
cleanup() {
    # timeout passes the TERM on to check_blob, which ends at once (it does not catch it).
    [ -n "$check_pid" ] && kill -TERM "$check_pid" 2>/dev/null && wait "$check_pid" 2>/dev/null
    azurite_stop
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM # the EXIT trap stops what this test started

passed=0
failed=0

if [ ! -x "$BUILD/tests/check_blob" ]; then
    echo "FAIL $BUILD/tests/check_blob is missing: build it with make"
    echo "0 passed, 1 failed"
    exit 1
fi
if ! azurite_install 2>"$T/why"; then
    echo "skipped: $(tail -n 1 "$T/why")"
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
fi
if ! azurite_start "$T/azurite" 2>"$T/why"; then
    echo "FAIL Azurite did not start: $(cat "$T/why")"
    echo "0 passed, 1 failed"
    exit 1
fi
echo "info: Azurite $AZURITE_VERSION answered $AZURITE_START_MS ms after it was started"
mkdir -p "$T/work"
# In the background so that a TERM to this script is handled at once (wait returns), not after it ends.
timeout 300 "$BUILD/tests/check_blob" "$T/work" >"$T/out" 2>&1 &
check_pid=$!
wait "$check_pid"
rc=$?
check_pid=
last=$(tail -n 1 "$T/out")
grep -v -E '^[0-9]+ passed, [0-9]+ failed' "$T/out"
if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
    passed=$((passed + BASH_REMATCH[1]))
    failed=$((failed + BASH_REMATCH[2]))
    [ "$rc" -ne 0 ] && [ "${BASH_REMATCH[2]}" = 0 ] && { echo "FAIL check_blob: exit status $rc"; failed=$((failed + 1)); }
else
    echo "FAIL check_blob ended without a result line (exit status $rc)"
    failed=$((failed + 1))
fi

# Nothing of Azurite is left running once it is stopped.
pid=$AZURITE_PID
azurite_stop
if _azurite_alive "$pid"; then
    echo "FAIL Azurite ($pid) still runs after azurite_stop"
    failed=$((failed + 1))
else
    passed=$((passed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
