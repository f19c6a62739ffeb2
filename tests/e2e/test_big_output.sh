#!/usr/bin/env bash
# test_big_output.sh: a run's 256 MiB output served by the API and the mount: exact bytes whole and by
# range, the server's memory bounded while it sends the file whole, a file cut short while it is sent,
# and no way out of the run's folder.
. "$(dirname "$0")/../lib/e2e.sh"

SIZE=$((256 * 1024 * 1024))
api() { curl -sS --fail --unix-socket "$DATA/server.sock" "$@"; }

# A Completed run whose outputs/big.bin holds SIZE random bytes (prints its id).
big_run() {
    [ -f "$T/big.id" ] && { cat "$T/big.id"; return 0; }
    mkdir -p "$MNT/experiments/big"
    local id
    id=$(printf 'command: head -c %d /dev/urandom > outputs/big.bin && ln -s /etc/passwd outputs/out && ln -s ../../../.. outputs/up\nenvironment: host\n' "$SIZE" |
        submit big) || return 1
    wait_status 120 "$MNT/runs/$id/status" Completed || { echo "status: $(cat "$MNT/runs/$id/status")" >&2; return 1; }
    echo "$id" > "$T/big.id"
    echo "$id"
}

# The kernel's peak mark of the process's resident memory, in KiB.
status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

t_an_unranged_get_is_exact_and_the_server_stays_small() {
    local id pid before peak url
    id=$(big_run) || fail "no big run"
    url=http://localhost/v1/runs/$id/outputs/big.bin
    pid=$(server_pid)
    [ -n "$pid" ] || fail "no server pid"
    # Reset the peak mark (VmHWM) to the present, so the peak read after is this request's.
    echo 5 > "/proc/$pid/clear_refs" || fail "cannot reset the server's peak mark"
    before=$(status_kib "$pid" VmRSS)
    want=$(sha256sum < "$DATA/runs/$id/work/outputs/big.bin" | cut -d' ' -f1)
    got=$(api "$url" | sha256sum | cut -d' ' -f1)
    peak=$(status_kib "$pid" VmHWM)
    [ "$got" = "$want" ] || fail "the bytes of GET $url differ from the server's file"
    [ $((peak - before)) -lt $((32 * 1024)) ] ||
        fail "the server grew by $(((peak - before) / 1024)) MiB while sending $((SIZE >> 20)) MiB (RSS $before KiB before)"
    [ "$(api -o /dev/null -w '%{size_download}' "$url")" = "$SIZE" ] || fail "size of the answer"
}

# GET with ?offset=&length= (small ones answered from memory, large ones from the file) vs dd of the file.
t_ranges_are_exact() {
    local id file url off len want got
    id=$(big_run) || fail "no big run"
    file=$DATA/runs/$id/work/outputs/big.bin
    url=http://localhost/v1/runs/$id/outputs/big.bin
    for range in "0 1" "12345 1000" "1048583 67108864" "$((SIZE - 100)) 4096" "$((SIZE - 3000000)) -" \
                 "$SIZE 10" "$((SIZE + 5)) -"; do
        read -r off len <<< "$range"
        if [ "$len" = - ]; then
            want=$(tail -c +$((off + 1)) "$file" | sha256sum)
            got=$(api "$url?offset=$off" | sha256sum)
        else
            want=$(tail -c +$((off + 1)) "$file" | head -c "$len" | sha256sum)
            got=$(api "$url?offset=$off&length=$len" | sha256sum)
        fi
        [ "$got" = "$want" ] || fail "offset=$off length=$len: the bytes differ"
    done
}

t_the_mount_reads_the_same_bytes() {
    local id
    id=$(big_run) || fail "no big run"
    [ "$(sha256sum < "$MNT/runs/$id/outputs/big.bin")" = "$(sha256sum < "$DATA/runs/$id/work/outputs/big.bin")" ] ||
        fail "cat through the mount differs from the server's file"
}

t_symlinks_out_of_the_run_are_refused() {
    local id code
    id=$(big_run) || fail "no big run"
    for path in out up/etc/passwd ../../../../etc/passwd; do
        code=$(curl -sS --path-as-is -o "$T/answer" -w '%{http_code}' --unix-socket "$DATA/server.sock" \
            "http://localhost/v1/runs/$id/outputs/$path")
        [ "$code" != 200 ] || fail "GET outputs/$path answered 200: $(head -c 200 "$T/answer")"
        grep -q root: "$T/answer" && fail "GET outputs/$path showed /etc/passwd"
    done
    return 0
}

# A job may rewrite an output while it is read: the answer already promised more bytes than there are, so
# it is cut (the client asks again), at once and without the server spinning (sent with sendfile(),
# libmicrohttpd would try the missing bytes again and again, a core busy, until its idle timeout).
t_a_file_cut_short_while_sent_ends_the_answer() {
    local id file curl_pid rc
    id=$(big_run) || fail "no big run"
    file=$DATA/runs/$id/work/outputs/cut.bin
    cp "$DATA/runs/$id/work/outputs/big.bin" "$file" || fail "cp"
    curl -sS --limit-rate 16M --unix-socket "$DATA/server.sock" -o "$T/cut.out" \
        "http://localhost/v1/runs/$id/outputs/cut.bin" > /dev/null 2>&1 &
    curl_pid=$!
    wait_for 10 test -s "$T/cut.out" || { kill $curl_pid; fail "nothing came"; }
    truncate -s 1000000 "$file"
    wait_for 10 sh -c "! kill -0 $curl_pid" || { kill $curl_pid; fail "the answer of a file cut short did not end"; }
    wait $curl_pid
    rc=$?
    [ "$rc" != 0 ] || fail "curl got a whole answer from a file cut short"
    [ "$(api "http://localhost/v1/runs/$id/outputs/cut.bin" | wc -c)" = 1000000 ] || fail "asked again"
}

mount_ws || { echo "0 passed, 1 failed"; exit 1; }
make_host_env host || { echo "0 passed, 1 failed"; exit 1; }
run_cases
