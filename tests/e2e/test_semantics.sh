#!/usr/bin/env bash
# test_semantics.sh: the writable places of the mount (an experiment's code folder and a subfolder, an
# environment's build context, a data asset's files, spec files) behave as a disk does for what cp -a,
# rsync -a, tar, editors and tail expect: POSIX cases with their errnos (tests/fs/fs_semantics.c, the
# kinds of case pjdfstest lists), an fsx-style random-operation check (tests/fs/fsx_lite.c), fio with
# verify=crc32c and stress-ng's file system stressors (Debian packages), in code folders and in an
# environment's build context.
#
# Why not pjdfstest and fsx themselves: neither is packaged by Debian (apt has no pjdfstest, no fsx, no
# xfstests), and a test run here downloads nothing (no network at test time, nothing fetched and built
# behind the user's back). So fs_semantics.c has pjdfstest's cases, rewritten in C with the errnos
# pjdfstest expects, and fsx_lite.c has fsx's operations against the same kind of in-memory model
# (FSX_SEED=N replays a run); fio and stress-ng are Debian's.
#
# pjdfstest's folders, and where their cases are (fs_semantics.c CASE-PREFIX):
#   open       open: O_CREAT|O_EXCL EEXIST, ENOENT, ENOTDIR on the way, O_DIRECTORY ENOTDIR, EISDIR for
#              writing, 255/256-byte names (ENAMETOOLONG), O_TRUNC, O_APPEND, the mode at creation
#   creat      open (O_CREAT keeps the mode, the file exists before close; mknod of a regular file);
#              chmod (O_CREAT with mode 0)
#   rename     rename: over a file, ENOENT, onto itself, ENOTEMPTY, EINVAL into itself, EISDIR, ENOTDIR,
#              over an empty folder, ENAMETOOLONG, RENAME_NOREPLACE EEXIST, into a subfolder, over an open file
#   unlink     unlink: ENOENT, EISDIR, ENOTDIR, an open file (reads on, fstat nlink 0), a symlink not its target
#   truncate   truncate: shorter, longer with zeros, ENOENT, EISDIR, EINVAL, EFBIG
#   ftruncate  truncate: shorter, longer, fstat, EFBIG, a read-only descriptor (EINVAL/EBADF)
#   mkdir      dirs: the mode kept, EEXIST, ENOENT, ENAMETOOLONG, nested
#   rmdir      dirs: ENOTEMPTY (or EEXIST), ENOTDIR, ENOENT, an empty folder
#   chmod      chmod: files and folders, modes 0, 0421, 04755, 01777, 0444, the experiment's own folder,
#              fchmod while writing, ENOENT
#   utimensat  times: a file and a folder, UTIME_OMIT, UTIME_NOW, ENOENT, futimens while writing, right after
#              close (tar x), a write's time kept at close
#   symlink    symlink: readlink, EEXIST; link (EPERM), mkfifo (EPERM)
#
# Cases left out, and why:
# - st_nlink of folders (pjdfstest mkdir, rmdir, rename count a folder's links): every folder shows 2; a
#   stored folder keeps no link counts (find and ls do not need them).
# - times below a millisecond (pjdfstest utimensat's nanosecond cases): times are kept in milliseconds,
#   which is what the files API carries; the cases check whole milliseconds.
# - ctime (pjdfstest checks it moves on chmod, rename, truncate...): ctime shows the modification time.
# - chown/lchown (pjdfstest chown): owners are not kept; every file shows the mounting user. chown is
#   accepted and changes nothing.
# - link (pjdfstest link): a stored folder has no hard links; link(2) answers EPERM (checked).
# - mkfifo/mknod of devices and sockets (pjdfstest mkfifo, mknod): EPERM (checked); a code folder keeps
#   files, folders and symlinks.
# - fallocate/posix_fallocate (pjdfstest posix_fallocate): EOPNOTSUPP (FUSE without a fallocate handler;
#   checked); fio runs with --fallocate=none, and glibc's posix_fallocate emulation writes zeros, which works.
# - ELOOP, EROFS, ETXTBSY, EFAULT and O_NONBLOCK cases of pjdfstest open: a symlink's target is not
#   followed inside the stored folder by the server, the mount is never read-only as a whole, nothing is
#   executed from it by the kernel's exec checks here, and a bad address is the kernel's, not the mount's.
# - access times, ctime, and permission checks for other users (pjdfstest's uid-switching cases):
#   the mount is one user's and keeps modification times only.
# - chflags, ACLs, xattrs (pjdfstest chflags, granular): not on Linux FUSE here; xattrs answer ENOTSUP.
# - files over 256 MiB: the workspace keeps files up to 256 MiB; writes and truncates past it are EFBIG
#   (checked), so fsx runs on files up to 256 KiB.
# - nothing else of fsx: fsx_lite does its writes, reads, truncates, mmap reads and writes (msync),
#   copy_file_range within the file (its copy_range), fsyncs and reopens; not its punch_hole, zero_range,
#   collapse/insert_range (fallocate modes, refused above) nor its O_DIRECT reads.
. "$(dirname "$0")/../lib/e2e.sh"

SEM=$BUILD/tests/fs/fs_semantics
FSX=$BUILD/tests/fs/fsx_lite

posix_cases_in() {
    out=$("$SEM" "$1" 2>&1) || { echo "$out" | grep -v '^ok'; fail "POSIX cases failed in $1"; }
}

t_posix_cases_in_an_experiment_code_folder() {
    mkdir "$MNT/experiments/sem"
    posix_cases_in "$MNT/experiments/sem"
}

t_posix_cases_in_a_subfolder_of_an_experiment() {
    mkdir -p "$MNT/experiments/semsub/src/pkg"
    posix_cases_in "$MNT/experiments/semsub/src/pkg"
}

t_posix_cases_in_an_environment_build_context() {
    mkdir "$MNT/environments/semenv"
    posix_cases_in "$MNT/environments/semenv"
}

t_posix_cases_in_a_data_asset_folder() {
    mkdir "$MNT/data/semdata"
    posix_cases_in "$MNT/data/semdata"
}

t_fsx_random_operations_on_a_code_file() {
    mkdir "$MNT/experiments/fsx"
    seed=${FSX_SEED:-$((RANDOM * 32768 + RANDOM))}
    echo "fsx seed $seed"
    "$FSX" "$MNT/experiments/fsx/fsx.bin" "${FSX_OPS:-3000}" "$seed" 262144 || fail "fsx_lite failed (seed $seed)"
}

t_fio_writes_and_verifies_crc32c() {
    for place in experiments/fio environments/fioenv; do
        mkdir "$MNT/$place"
        for rw in randwrite write; do
            timeout 120 fio --name="v$rw" --directory="$MNT/$place" --rw=$rw --bs=4k --size=2M \
                --ioengine=psync --fallocate=none --verify=crc32c --do_verify=1 --verify_fatal=1 --verify_state_save=0 \
                --output="$T/fio-$rw.txt" || { tail -20 "$T/fio-$rw.txt"; fail "fio $rw in $place"; }
            grep -q "err= 0" "$T/fio-$rw.txt" || fail "fio $rw in $place: $(grep err= "$T/fio-$rw.txt")"
        done
    done
}

# fsync sends what was written to the server while the file stays open: the server's own view of the
# folder (the files API) has the bytes before close, in a code folder and in a build context. The writer
# never forks (a fork's copy of the descriptor closed at exec is a flush, which stores too): it is a
# coprocess told by lines when to go on.
server_file() { curl -sS --unix-socket "$DATA/server.sock" "http://localhost/v1/$1/files/$2"; }
t_fsync_reaches_the_server_before_close() {
    for place in experiments/fsyncexp environments/fsyncenv; do
        mkdir "$MNT/$place"
        coproc WRITER { python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"fsynced while open\n")
os.fsync(fd)
print("synced", flush=True)
sys.stdin.readline()
os.write(fd, b"and more\n")
os.fdatasync(fd)
print("synced", flush=True)
sys.stdin.readline()
os.close(fd)
print("closed", flush=True)
' "$MNT/$place/a.txt"; }
        read -r -t 20 line <&"${WRITER[0]}" && [ "$line" = synced ] || fail "$place: the writer said '$line'"
        got=$(server_file "$place" a.txt)
        echo >&"${WRITER[1]}"
        read -r -t 20 line <&"${WRITER[0]}" && [ "$line" = synced ] || fail "$place: the writer said '$line'"
        more=$(server_file "$place" a.txt)
        echo >&"${WRITER[1]}"
        read -r -t 20 line <&"${WRITER[0]}"
        wait "$WRITER_PID"
        [ "$got" = "fsynced while open" ] || fail "$place: after fsync the server had '$got'"
        [ "$more" = "fsynced while open
and more" ] || fail "$place: after fdatasync the server had '$more'"
    done
}

# Item 5: times set by touch -d, cp -p, tar x and rsync -t are kept.
t_times_set_by_touch_cp_tar_and_rsync_are_kept() {
    mkdir -p "$MNT/experiments/times" "$T/src/sub"
    echo a > "$T/src/a.py"; echo b > "$T/src/sub/b.py"
    touch -d '2020-01-02 03:04:05' "$T/src/a.py" "$T/src/sub/b.py" "$T/src/sub"
    touch -d '2019-05-06 07:08:09' "$MNT/experiments/times/touched" || fail "touch -d"
    [ "$(stat -c %Y "$MNT/experiments/times/touched")" = "$(date -d '2019-05-06 07:08:09' +%s)" ] || fail "touch -d not kept"
    cp -p "$T/src/a.py" "$MNT/experiments/times/cp.py" || fail "cp -p"
    [ "$(stat -c %Y "$MNT/experiments/times/cp.py")" = "$(stat -c %Y "$T/src/a.py")" ] || fail "cp -p time not kept"
    mkdir "$MNT/experiments/times/tar" && tar -C "$T/src" -cf - . | tar -C "$MNT/experiments/times/tar" -xf - || fail "tar x"
    [ "$(stat -c %Y "$MNT/experiments/times/tar/sub/b.py")" = "$(stat -c %Y "$T/src/sub/b.py")" ] || fail "tar file time"
    [ "$(stat -c %Y "$MNT/experiments/times/tar/sub")" = "$(stat -c %Y "$T/src/sub")" ] || fail "tar folder time"
    rsync -a "$T/src/" "$MNT/experiments/times/rs/" || fail "rsync -a"
    sent=$(rsync -a --itemize-changes "$T/src/" "$MNT/experiments/times/rs/" | grep -c '^[<>]')
    [ "$sent" = 0 ] || fail "a second rsync -a sent $sent files"
}

# Item 6: cp -a and rsync -a of a 775 folder into an experiment; modes of folders are kept.
t_cp_a_and_rsync_a_keep_folder_modes() {
    mkdir -p "$T/proj/lib" "$MNT/experiments/modes" "$MNT/experiments/modes2"
    echo x > "$T/proj/lib/x.py"
    chmod 775 "$T/proj"; chmod 750 "$T/proj/lib"
    cp -a "$T/proj/." "$MNT/experiments/modes/" || fail "cp -a exited $?"
    [ "$(stat -c %a "$MNT/experiments/modes")" = 775 ] || fail "experiment folder mode $(stat -c %a "$MNT/experiments/modes")"
    [ "$(stat -c %a "$MNT/experiments/modes/lib")" = 750 ] || fail "subfolder mode $(stat -c %a "$MNT/experiments/modes/lib")"
    rsync -a "$T/proj/" "$MNT/experiments/modes2/" || fail "rsync -a exited $?"
    [ "$(stat -c %a "$MNT/experiments/modes2/lib")" = 750 ] || fail "rsync: subfolder mode"
    chmod 700 "$MNT/experiments/modes/lib" && [ "$(stat -c %a "$MNT/experiments/modes/lib")" = 700 ] || fail "chmod of a subfolder"
}

# Item 7: tail -f keeps following a file that is removed (as on a disk), and a replaced file reads on.
t_tail_f_survives_rm_of_the_file() {
    mkdir "$MNT/experiments/tail"
    echo "line one" > "$MNT/experiments/tail/f.log"
    tail -f "$MNT/experiments/tail/f.log" > "$T/tail.out" 2>&1 &
    pid=$!
    wait_for 10 grep -q "line one" "$T/tail.out" || { kill "$pid"; fail "tail saw nothing"; }
    rm "$MNT/experiments/tail/f.log"
    # tail polls its descriptor each second: give it three polls to fail as it did (it exited).
    if wait_for 3 sh -c "! kill -0 $pid 2>/dev/null"; then fail "tail -f exited: $(cat "$T/tail.out")"; fi
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    ! grep -q "error\|cannot" "$T/tail.out" || fail "tail said: $(cat "$T/tail.out")"
}

# Item 8: code written and fsync'ed (or only written) while open is what a submission snapshots.
t_open_written_code_is_seen_by_fsync_and_a_submission() {
    mkdir "$MNT/experiments/sync"
    make_host_env synchost 2>/dev/null
    python3 - "$MNT/experiments/sync" <<'P' || fail "python"
import os, subprocess, sys, time
d = sys.argv[1]
a = os.open(d + "/a.txt", os.O_WRONLY | os.O_CREAT, 0o644)
os.write(a, b"fsynced\n")
os.fsync(a)
b = os.open(d + "/b.txt", os.O_WRONLY | os.O_CREAT, 0o644)
os.write(b, b"written\n")
with open(d + "/job.yaml", "w") as f:
    f.write("command: cat a.txt b.txt\nenvironment: synchost\n")
os.close(a)
os.close(b)
P
    id=$(readlink "$MNT/experiments/sync/runs/latest"); id=${id##*/}
    [ -n "$id" ] || fail "no run: $(cat "$MNT/experiments/sync/status")"
    wait_status 20 "$MNT/runs/$id/status" Completed || fail "run: $(cat "$MNT/runs/$id/status"): $(cat "$MNT/runs/$id/log")"
    grep -qx fsynced "$MNT/runs/$id/log" && grep -qx written "$MNT/runs/$id/log" || fail "log: $(cat "$MNT/runs/$id/log")"
}

# Item 9: a name too long, df, a refused mv (taken back, and not "a subdirectory of itself"), and what
# stays refused.
t_long_names_df_and_a_refused_mv_read_right() {
    mkdir "$MNT/experiments/misc"
    long=$(printf 'n%.0s' $(seq 256))
    touch "$MNT/experiments/misc/$long" 2>"$T/err" && fail "a 256-byte name was made"
    grep -q "File name too long" "$T/err" || fail "touch said: $(cat "$T/err")"
    # df of the mount is the server's data disk (here the same machine: the disk $DATA is on).
    read -r size avail < <(df -B1 --output=size,avail "$MNT" | tail -1)
    read -r dsize davail < <(df -B1 --output=size,avail "$DATA" | tail -1)
    [ "$size" -gt 0 ] && [ "$avail" -gt 0 ] || fail "df: size $size avail $avail"
    [ "$size" = "$dsize" ] || fail "df: size $size, the data disk's $dsize"
    diff=$((avail > davail ? avail - davail : davail - avail))
    [ "$diff" -le $((64 * 1024 * 1024)) ] || fail "df: avail $avail, the data disk's $davail"
    printf 'command: [\n' > "$MNT/experiments/misc/draft.yaml"
    mv "$MNT/experiments/misc/draft.yaml" "$MNT/experiments/misc/job.yaml" 2>"$T/err" && fail "mv of a bad spec succeeded"
    ! grep -q "subdirectory" "$T/err" || fail "mv said: $(cat "$T/err")"
    grep -q "Bad message" "$T/err" || fail "mv said: $(cat "$T/err")"
    grep -q "^Rejected: job.yaml" "$MNT/experiments/misc/status" || fail "status: $(cat "$MNT/experiments/misc/status")"
    # Refused, the rename is undone: the file keeps its name and text.
    grep -q "command: \[" "$MNT/experiments/misc/draft.yaml" && [ ! -e "$MNT/experiments/misc/job.yaml" ] ||
        fail "after the refused mv: $(ls "$MNT/experiments/misc")"
    mkfifo "$MNT/experiments/misc/fifo" 2>/dev/null && fail "mkfifo made a fifo"
    fallocate -l 4096 "$MNT/experiments/misc/big" 2>"$T/err" && fail "fallocate worked"
    grep -q "not supported" "$T/err" || fail "fallocate said: $(cat "$T/err")"
}

# Spec files are files too: chmod, times and a truncate by path act (or not) as a save would.
t_spec_files_take_chmod_times_and_rename_over() {
    mkdir "$MNT/experiments/specsem"
    make_host_env spechost 2>/dev/null
    printf 'command: echo s\nenvironment: spechost\n' > "$MNT/experiments/specsem/job.yaml"
    n=$(run_count)
    chmod 600 "$MNT/experiments/specsem/job.yaml" && [ "$(stat -c %a "$MNT/experiments/specsem/job.yaml")" = 600 ] || fail "chmod"
    touch -d '2020-01-01' "$MNT/experiments/specsem/job.yaml" || fail "touch"
    [ "$(run_count)" = "$n" ] || fail "chmod or touch submitted"
    printf 'command: echo t\nenvironment: spechost\n' > "$MNT/experiments/specsem/next.yaml"
    mv "$MNT/experiments/specsem/next.yaml" "$MNT/experiments/specsem/job.yaml" || fail "mv"
    [ "$(run_count)" = "$((n + 1))" ] || fail "rename over job.yaml: $(run_count) runs"
    truncate -s 0 "$MNT/experiments/specsem/job.yaml" 2>/dev/null && fail "an emptied spec was accepted"
    [ "$(run_count)" = "$((n + 1))" ] || fail "truncate submitted"
    rm "$MNT/experiments/specsem/job.yaml" && [ "$(run_count)" = "$((n + 1))" ] || fail "rm"
}

mount_ws || { echo "0 passed, 1 failed"; exit 1; }
make_host_env host || { echo "0 passed, 1 failed"; exit 1; }
run_cases
