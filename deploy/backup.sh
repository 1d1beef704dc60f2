#!/usr/bin/env bash
# whistlebox backup: a consistent copy of the data folder, and, separately, the secrets.
#
#   backup.sh [--service UNIT | --no-service] DATA_DIR KEYS_DIR DATA_DEST SECRETS_DEST
#
# Production (as root):
#   deploy/backup.sh /var/lib/whistlebox/data /etc/whistlebox/keys /mnt/backup-data /mnt/backup-secrets
#
# Writes two archives, named by day only (no precise time anywhere):
#   DATA_DEST/whistlebox-data-YYYY-MM-DD.tar        the data folder (sled store: sealed tips,
#                                                   receipt hashes, days, statuses)
#   SECRETS_DEST/whistlebox-secrets-YYYY-MM-DD.tar  receipt-pepper.secret, admin-token.secret,
#                                                   inspectors.pub (from KEYS_DIR)
# The receipt pepper is never written into the data archive: with a copy of the data alone no
# one can test receipt guesses. So SECRETS_DEST is required, and must not be DATA_DEST.
#
# sled must not be copied while the server runs (it holds a lock and writes continuously):
#   --service UNIT  (default: whistlebox.service) stop the unit with systemctl, copy, and
#                   start it again if it was running;
#   --no-service    the caller has already stopped the server (tests, or a server run by hand).
# Either way the script takes sled's own lock on DATA_DIR/store/db while it copies, so it
# refuses to copy a store that a server still holds, and no server can open it mid-copy.
set -euo pipefail
umask 077

usage() {
    sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
die() {
    echo "backup.sh: $*" >&2
    exit 1
}

service=whistlebox.service
manage_service=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --service)
            [[ $# -ge 2 ]] || usage
            service=$2
            shift 2
            ;;
        --no-service)
            manage_service=0
            shift
            ;;
        -h | --help) usage ;;
        --)
            shift
            break
            ;;
        -*) usage ;;
        *) break ;;
    esac
done
[[ $# -eq 4 ]] || usage
data_dir=$1
keys_dir=$2
data_dest=$3
secrets_dest=$4

for tool in tar flock realpath sha256sum; do
    command -v "$tool" >/dev/null || die "needs $tool"
done
[[ -d "$data_dir/store" ]] || die "$data_dir is not a whistlebox data folder (no store/ in it)"
[[ -f "$data_dir/store/db" ]] || die "$data_dir/store holds no sled database (no db file)"
[[ -f "$keys_dir/receipt-pepper.secret" ]] ||
    die "$keys_dir/receipt-pepper.secret is missing: without it no receipt can ever be checked again"
[[ -d "$data_dest" ]] || die "data destination $data_dest is not a folder"
[[ -d "$secrets_dest" ]] || die "secrets destination $secrets_dest is not a folder"

data_real=$(realpath -- "$data_dir")
keys_real=$(realpath -- "$keys_dir")
data_dest_real=$(realpath -- "$data_dest")
secrets_dest_real=$(realpath -- "$secrets_dest")
if [[ "$data_dest_real" == "$secrets_dest_real" ]]; then
    die "the secrets must go to a different place than the data (a copy of the data alone must not let anyone test receipt guesses)"
fi
case "$data_dest_real/" in
    "$data_real"/* | "$keys_real"/*) die "the data destination must lie outside the data and keys folders" ;;
esac
case "$secrets_dest_real/" in
    "$data_real"/* | "$keys_real"/*) die "the secrets destination must lie outside the data and keys folders" ;;
esac
case "$keys_real/" in
    "$data_real"/*) die "the keys folder lies inside the data folder: the pepper would end up in the data archive" ;;
esac

# Day only, in UTC, like the days the server stores. The archives' entries all carry
# midnight of that day, owner 0:0, and are sorted by name: no precise time, no user names.
day=$(date -u +%Y-%m-%d)
day_start="$day 00:00:00 UTC"
data_archive="$data_dest_real/whistlebox-data-$day.tar"
secrets_archive="$secrets_dest_real/whistlebox-secrets-$day.tar"
for f in "$data_archive" "$secrets_archive"; do
    [[ ! -e "$f" ]] || die "$f already exists (one backup a day); move it away first"
done
tar_flags=(--format=gnu --sort=name --mtime="$day_start" --owner=0 --group=0 --numeric-owner
    --no-acls --no-xattrs --no-selinux)

# Which secrets exist: the pepper always; the token and the public key when present.
secrets=(receipt-pepper.secret)
for f in admin-token.secret inspectors.pub; do
    [[ -f "$keys_real/$f" ]] && secrets+=("$f")
done

restart=0
cleanup() {
    rm -f -- "$data_archive.partial" "$secrets_archive.partial"
    if [[ $restart -eq 1 ]]; then
        systemctl start "$service" || echo "backup.sh: could not start $service again: start it by hand" >&2
    fi
}
trap cleanup EXIT

if [[ $manage_service -eq 1 ]]; then
    command -v systemctl >/dev/null || die "no systemctl: stop the server yourself and pass --no-service"
    if systemctl is-active --quiet "$service" 2>/dev/null; then
        restart=1
        systemctl stop "$service"
    fi
fi

# sled takes an exclusive flock(2) on store/db; holding it here proves the server is stopped
# and keeps one from starting on the folder while it is being copied.
exec 9<"$data_real/store/db"
flock --exclusive --nonblock 9 ||
    die "the store in $data_dir is in use (a server still runs on it); stop it first"

tar "${tar_flags[@]}" -cf "$data_archive.partial" -C "$data_real" .
tar "${tar_flags[@]}" -cf "$secrets_archive.partial" -C "$keys_real" -- "${secrets[@]}"
exec 9<&-

# The archive files themselves carry the day, not the minute they were written.
touch -d "$day_start" -- "$data_archive.partial" "$secrets_archive.partial"
sync -- "$data_archive.partial" "$secrets_archive.partial" 2>/dev/null || sync
mv -- "$data_archive.partial" "$data_archive"
mv -- "$secrets_archive.partial" "$secrets_archive"

echo "data:    $data_archive"
echo "secrets: $secrets_archive (${secrets[*]})"
(cd "$data_dest_real" && sha256sum -- "$(basename -- "$data_archive")")
(cd "$secrets_dest_real" && sha256sum -- "$(basename -- "$secrets_archive")")
