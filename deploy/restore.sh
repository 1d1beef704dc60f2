#!/usr/bin/env bash
# whistlebox restore: puts a data archive and a secrets archive made by backup.sh back.
#
#   restore.sh [--service-user USER] DATA_ARCHIVE SECRETS_ARCHIVE DATA_DIR KEYS_DIR
#
# Production (as root, with the service stopped and the old data folder moved away):
#   deploy/restore.sh --service-user whistlebox \
#       /mnt/backup-data/whistlebox-data-2026-11-28.tar \
#       /mnt/backup-secrets/whistlebox-secrets-2026-11-28.tar \
#       /var/lib/whistlebox/data /etc/whistlebox/keys
#
# DATA_DIR must not exist or be empty: an existing data folder is never overwritten.
# KEYS_DIR may exist (e.g. holding inspectors.pub), but none of the files in the secrets
# archive may already be in it: an existing pepper or token is never overwritten either.
# Archives are checked first: only plain files and folders, no absolute paths, no "..".
# Everything is extracted beside its target and renamed into place, private (0600/0700).
# --service-user USER (as root): the data folder becomes USER's, and the secrets
# root:USER 0640 in a root:USER 0750 keys folder, as deploy/README.md installs them.
# The server checks at start that the pepper belongs to the store; a mismatched pair of
# archives makes it refuse to start rather than answer every receipt with 404.
set -euo pipefail
umask 077

usage() {
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
die() {
    echo "restore.sh: $*" >&2
    exit 1
}

service_user=
while [[ $# -gt 0 ]]; do
    case "$1" in
        --service-user)
            [[ $# -ge 2 ]] || usage
            service_user=$2
            shift 2
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
data_archive=$1
secrets_archive=$2
data_dir=${3%/}
keys_dir=${4%/}

[[ -f "$data_archive" ]] || die "no data archive at $data_archive"
[[ -f "$secrets_archive" ]] || die "no secrets archive at $secrets_archive"
if [[ -n "$service_user" ]]; then
    [[ $EUID -eq 0 ]] || die "--service-user needs root"
    id -u "$service_user" >/dev/null 2>&1 || die "no user $service_user"
fi
if [[ -e "$data_dir" || -L "$data_dir" ]]; then
    [[ -d "$data_dir" && ! -L "$data_dir" ]] || die "$data_dir exists and is not a folder"
    [[ -z "$(ls -A -- "$data_dir")" ]] ||
        die "$data_dir is not empty: refusing to overwrite an existing data folder (move it away first)"
fi

# Lists an archive's members after checking every one is a plain file or folder with a
# relative path that does not climb out.
check_archive() {
    local archive=$1 line type name
    tar -tvf "$archive" >/dev/null || die "$archive is not a readable tar archive"
    while IFS= read -r line; do
        type=${line:0:1}
        [[ "$type" == "-" || "$type" == "d" ]] ||
            die "$archive holds something other than plain files and folders: $line"
    done < <(tar --quoting-style=escape -tvf "$archive")
    while IFS= read -r name; do
        case "/$name/" in
            //* | */../*) die "$archive holds an unsafe path: $name" ;;
        esac
    done < <(tar --quoting-style=escape -tf "$archive")
}
check_archive "$data_archive"
check_archive "$secrets_archive"

# What the secrets archive holds, and that none of it is already in KEYS_DIR.
mapfile -t secrets < <(tar -tf "$secrets_archive" | sed 's#^\./##' | grep -v '/$' || true)
[[ " ${secrets[*]} " == *" receipt-pepper.secret "* ]] ||
    die "$secrets_archive holds no receipt-pepper.secret"
for f in "${secrets[@]}"; do
    case "$f" in
        receipt-pepper.secret | admin-token.secret | inspectors.pub) ;;
        *) die "$secrets_archive holds an unexpected file: $f" ;;
    esac
    [[ ! -e "$keys_dir/$f" && ! -L "$keys_dir/$f" ]] ||
        die "$keys_dir/$f already exists: refusing to overwrite it (move it away first)"
done

tar_flags=(--no-same-owner --no-same-permissions --no-acls --no-xattrs --no-selinux
    --keep-old-files)

data_parent=$(dirname -- "$data_dir")
mkdir -p -- "$data_parent" "$keys_dir"
data_stage=$(mktemp -d "$data_parent/.whistlebox-restore.XXXXXX")
keys_stage=$(mktemp -d "$keys_dir/.whistlebox-restore.XXXXXX")
cleanup() { rm -rf -- "$data_stage" "$keys_stage"; }
trap cleanup EXIT

tar "${tar_flags[@]}" -xf "$data_archive" -C "$data_stage"
[[ -f "$data_stage/store/db" ]] || die "$data_archive holds no sled store (no store/db)"
tar "${tar_flags[@]}" -xf "$secrets_archive" -C "$keys_stage"
# Private, whatever the archive said.
find "$data_stage" "$keys_stage" -type d -exec chmod 0700 {} +
find "$data_stage" "$keys_stage" -type f -exec chmod 0600 {} +

if [[ -n "$service_user" ]]; then
    group=$(id -gn "$service_user")
    chown -R -- "$service_user:$group" "$data_stage"
    chown -- "root:$group" "$keys_dir" "$keys_stage"/*
    chmod 0750 -- "$keys_dir"
    chmod 0640 -- "$keys_stage"/*
fi

# Into place. The data folder is renamed as a whole (it did not exist or was empty).
if [[ -d "$data_dir" ]]; then
    rmdir -- "$data_dir"
fi
mv -T -- "$data_stage" "$data_dir"
for f in "${secrets[@]}"; do
    mv -n -- "$keys_stage/$f" "$keys_dir/$f"
    [[ ! -e "$keys_stage/$f" ]] || die "could not move $f into $keys_dir"
done
sync

echo "restored data into $data_dir and ${secrets[*]} into $keys_dir"
echo "start the server and check it: it refuses to start if the pepper is not this store's"
