# scale.sh: the bench at 10,000 runs: the parked compute (its one place held by a long job, so what goes
# there waits Queued), filling the workspace with real runs through the API, the metadata rows against
# the same tree on local disk, and memory (idle, at 10,000 runs, with 50 tail -f followers).

BENCH_RUNS=${BENCH_RUNS:-10000}
BENCH_EXECUTED=${BENCH_EXECUTED:-300}
EXEC_RATE=0
META_SECTION="metadata, $BENCH_RUNS runs"

bench_park() {
    section "parking a compute (runs submitted to it wait Queued)"
    "$PY" "$HELP/populate.py" park --sock "$SOCK" --exp scale > "$T/holder" 2>>"$ERR"
}

mem_row() { # WHAT PID FIELD [GOAL] [NOTE]
    local kib
    kib=$(mem_kib "$2" "$3")
    if [ -z "$kib" ]; then
        row skip --section memory --what "$1" --reason "process $2 is gone"
        return
    fi
    row value --section memory --what "$1" --unit MiB --amlfs "$(awk -v k="$kib" 'BEGIN {print k / 1024}')" \
        --goal "${4:-none}" --note "${5:-}"
}

bench_memory_idle() {
    section "memory, idle"
    mem_row "amlfs RSS, idle" "$MOUNT_PID" VmRSS max=64
    mem_row "amlfs-server RSS, idle" "$(server_pid)" VmRSS
}

populate() {
    local fill=$((BENCH_RUNS - BENCH_EXECUTED)) out k
    for k in 0 1 2 3; do mkdir -p "$MNT/experiments/scale$k" || return 1; done
    out=$("$PY" "$HELP/populate.py" fill --sock "$SOCK" --exp scale --total "$fill") || return 1
    say "$out"
    out=$("$PY" "$HELP/populate.py" unpark --sock "$SOCK") || return 1
    say "$out"
    out=$("$PY" "$HELP/populate.py" execute --sock "$SOCK" --exp scale --count "$BENCH_EXECUTED") || return 1
    say "$out"
    EXEC_RATE=$(awk '{print int($1 / $5)}' <<<"$out") # "N runs executed in S s"
}

# The reference: the same runs' tree on a file system of its own (ext4 in a file, loop-mounted), so that
# "cold" can be made by mounting it again without touching the machine's other caches.
make_reftree() {
    truncate -s 4G "$REFIMG" && mkfs.ext4 -q -F -N 400000 "$REFIMG" 2>>"$ERR" &&
        mount -o loop "$REFIMG" "$REFMNT" 2>>"$ERR" && REF_LOOP=1
    [ "$REF_LOOP" = 1 ] || note "no loop mount here: the local tree is on $T's disk and its cold rows are warm"
    "$PY" "$HELP/populate.py" reftree --sock "$SOCK" --mnt "$MNT" --dest "$REFMNT" >/dev/null &&
        sync -f "$REFMNT/runs"
}

# The mount's own peak so far, for a row's note: which operation made it grow.
mount_peak_note() {
    printf 'this mount peaked at %s MiB so far' "$(awk -v k="$(mem_kib "$MOUNT_PID" VmHWM)" 'BEGIN {printf "%.0f", k / 1024}')"
}

ref_cold() {
    [ "$REF_LOOP" = 1 ] || return 0
    umount "$REFMNT" && mount -o loop "$REFIMG" "$REFMNT"
}

metadata_rows() {
    local d=$T/meta i
    mkdir -p "$d"
    for i in 1 2 3; do # cold: a new mount (daemon and kernel caches), the local tree mounted again
        remount_ws || return 1
        [ "$i" = 1 ] && PHASE_PEAK_KIB=0 # from here on, only the mounts of these rows
        time_into "$d/ls_cold" ls -l "$MNT/runs" || return 1
        ref_cold || return 1
        time_into "$d/ls_cold_ref" ls -l "$REFMNT/runs"
    done
    row samples --section "$META_SECTION" --what "ls -l runs/, cold (vs local disk, cold)" --unit s --goal max=0.5 \
        --amlfs "$d/ls_cold" --ref "$d/ls_cold_ref" \
        --note "cold: a fresh mount; the local tree's file system mounted again; $(mount_peak_note)"
    ls -l "$MNT/runs" >/dev/null && ls -l "$REFMNT/runs" >/dev/null
    for i in 1 2 3; do
        time_into "$d/ls_warm" ls -l "$MNT/runs"
        time_into "$d/ls_warm_ref" ls -l "$REFMNT/runs"
    done
    row samples --section "$META_SECTION" --what "ls -l runs/, warm (vs local disk)" --unit s --goal max_ratio=3 \
        --amlfs "$d/ls_warm" --ref "$d/ls_warm_ref" --note "each right after the other's; $(mount_peak_note)"
    # One find through the mount takes about a minute at 10,000 runs: one each, the local one warmed first.
    find "$REFMNT/runs" >/dev/null
    time_into "$d/find" find "$MNT/runs"
    time_into "$d/find_ref" find "$REFMNT/runs"
    row samples --section "$META_SECTION" --what "find runs/ (vs local disk)" --unit s --goal max_ratio=5 \
        --amlfs "$d/find" --ref "$d/find_ref" --note "$(find "$REFMNT/runs" | wc -l) entries; one try each; $(mount_peak_note)"
    # shellcheck disable=SC2016 # the glob is the timed shell's
    for i in 1 2; do
        time_into "$d/cat" bash -c 'cat "$1"/runs/*/status' - "$MNT"
        time_into "$d/cat_ref" bash -c 'cat "$1"/runs/*/status' - "$REFMNT"
    done
    row samples --section "$META_SECTION" --what "cat runs/*/status (vs local disk)" --unit s --goal max_ratio=5 \
        --amlfs "$d/cat" --ref "$d/cat_ref" --note "$(mount_peak_note)"
    "$PY" "$HELP/meta_stat.py" --rows "$ROWS" --mnt "$MNT" --ref "$REFMNT" --section "$META_SECTION"
}

bench_scale() {
    section "filling the workspace to $BENCH_RUNS runs"
    local metas="ls -l runs/, cold (vs local disk, cold);ls -l runs/, warm (vs local disk);find runs/ (vs local disk);cat runs/*/status (vs local disk);stat runs/RANDOM/info.json, one call (vs local disk)"
    local mems="amlfs peak RSS during the metadata rows at $BENCH_RUNS runs;amlfs-server RSS at $BENCH_RUNS runs;amlfs-server while listing $BENCH_RUNS runs (GET /v1/runs, pages of 5,000)"
    if ! attempt "$META_SECTION" "$metas" populate; then
        local IFS=';'
        # shellcheck disable=SC2086
        skip_rows memory "the workspace could not be filled" $mems
        return 0
    fi
    note "$BENCH_RUNS runs, all real runs the server made through its API: $BENCH_EXECUTED ran \`true\` to Completed ($EXEC_RATE runs/s); the rest were submitted to the parked compute and canceled while Queued, in batches (executing all would take $((BENCH_RUNS / (${EXEC_RATE%.*} > 0 ? ${EXEC_RATE%.*} : 1))) s more)"
    section "metadata at $BENCH_RUNS runs"
    attempt "$META_SECTION" "$metas" make_reftree && attempt "$META_SECTION" "$metas" metadata_rows
    mount_peak_sample
    row value --section memory --what "amlfs peak RSS during the metadata rows at $BENCH_RUNS runs" --unit MiB \
        --amlfs "$(awk -v k="$PHASE_PEAK_KIB" 'BEGIN {print k / 1024}')" --goal max=64 \
        --note "VmHWM of the mounts that ran them; $(awk -v k="$(mem_kib "$MOUNT_PID" VmRSS)" 'BEGIN {printf "%.0f", k / 1024}') MiB after them"
    mem_row "amlfs-server RSS at $BENCH_RUNS runs" "$(server_pid)" VmRSS
    listing_memory
}

# The server's memory while it answers GET /v1/runs with its largest page (5,000 runs).
listing_memory() {
    local growth what="amlfs-server while listing $BENCH_RUNS runs (GET /v1/runs, pages of 5,000)"
    if ! growth=$("$PY" "$HELP/mem_during.py" "$(server_pid)" curl -sS --fail --unix-socket "$SOCK" \
        "http://localhost/v1/runs?limit=5000" -o /dev/null 2>>"$ERR"); then
        row skip --section memory --what "$what" --reason "GET /v1/runs failed: $(tail -1 "$ERR")"
        return 0
    fi
    row value --section memory --what "$what" --unit MiB --amlfs "$growth" --goal max=64 \
        --goal-text "bounded (< 64 MiB growth)" --note "largest growth of its RSS during one listing, sampled every 2 ms"
}

tails_rows() {
    local rid i pids=() peak_m=0 peak_s=0 k deadline
    mkdir "$MNT/experiments/tails" || return 1
    rid=$(host_job "$PY $HELP/log_latency.py emit 100 8 1" | submit tails) || return 1
    wait_for 20 test -e "$MNT/runs/$rid/log" || return 1
    for i in $(seq 50); do
        tail -f "$MNT/runs/$rid/log" >/dev/null 2>&1 &
        pids+=($!)
        BG_PIDS+=($!)
    done
    deadline=$(($(now_us) + 60000000))
    while ! _status_is "$MNT/runs/$rid/status" Completed && [ "$(now_us)" -lt "$deadline" ]; do
        k=$(mem_kib "$MOUNT_PID" VmRSS)
        [ "${k:-0}" -gt "$peak_m" ] && peak_m=$k
        k=$(mem_kib "$(server_pid)" VmRSS)
        [ "${k:-0}" -gt "$peak_s" ] && peak_s=$k
        sleep 0.2
    done
    kill "${pids[@]}" 2>/dev/null
    wait "${pids[@]}" 2>/dev/null
    BG_PIDS=()
    row value --section memory --what "amlfs RSS with 50 tail -f followers" --unit MiB \
        --amlfs "$(awk -v k="$peak_m" 'BEGIN {print k / 1024}')" --goal max=64 --note "largest RSS while a job writes 100 lines/s for 8 s"
    row value --section memory --what "amlfs-server RSS with 50 tail -f followers" --unit MiB \
        --amlfs "$(awk -v k="$peak_s" 'BEGIN {print k / 1024}')" --note "largest RSS meanwhile"
}

bench_tails() {
    section "memory with 50 tail -f followers"
    attempt memory "amlfs RSS with 50 tail -f followers;amlfs-server RSS with 50 tail -f followers" tails_rows
}

bench_memory_peak() {
    mount_peak_sample
    row value --section memory --what "amlfs peak RSS over the whole bench (every mount's VmHWM)" --unit MiB \
        --amlfs "$(awk -v k="$AMLFS_PEAK_KIB" 'BEGIN {print k / 1024}')" --goal max=64 \
        --note "reached during: ${PEAK_WHERE:-?}"
}
