#!/usr/bin/env bash
# The dependency rules of the source tree, checked by grep (run by scripts/test.sh):
# C is imported only by the KBS* wrapper targets, StorageCore makes no raw libc call, only snapctl
# bootstraps logging, the adapters do not import each other, and no source file passes 400 lines.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
fail() { echo "check-layers: $*"; status=1; }

frontends="Sources/StorageCore Sources/SnapshotterAdapter Sources/GraphDriverAdapter Sources/snapctl"
c_imports=$(grep -rnE '^(@preconcurrency )?import (Glibc|Musl|Darwin|CLMDB|CDeviceMapper|CDeviceMapperLog|CLinux|CArchive)$' $frontends)
[ -z "$c_imports" ] || fail "C imported outside the KBS* wrappers:"$'\n'"$c_imports"

libc='usleep|sleep|getenv|setenv|getpid|getuid|ioctl|mount|umount2|flock|statvfs|opendir|readdir|unlink|rmdir|mkdir|lstat|fstat|access|pread|pwrite|fsync|ftruncate|lseek|socket|connect|chmod|umask|clock_gettime|_exit|mknod|realpath'
raw=$(grep -rnE "(^|[^.[:alnum:]_])($libc|mdb_[a-z_]+|dm_[a-z_]+|kbs_[a-z_]+)\(" Sources/StorageCore | grep -vE '^\S+:\s*///|//.*$' | grep -vE 'func ('"$libc"')\(')
[ -z "$raw" ] || fail "raw C calls in StorageCore:"$'\n'"$raw"

bootstrap=$(grep -rn 'LoggingSystem.bootstrap' Sources | grep -v '^Sources/snapctl/')
[ -z "$bootstrap" ] || fail "logging bootstrapped outside snapctl:"$'\n'"$bootstrap"

for adapter in Sources/*Adapter; do
  others=$(grep -rnE '^import [A-Za-z]+Adapter$' "$adapter")
  [ -z "$others" ] || fail "$adapter imports another adapter:"$'\n'"$others"
done

long=$(find Sources Tests Benchmarks -name '*.swift' -not -path '*/Generated/*' -exec wc -l {} + | awk '$2 != "total" && $1 > 400 {print}')
[ -z "$long" ] || fail "files over 400 lines:"$'\n'"$long"

[ "$status" -eq 0 ] && echo "check-layers: C only in KBS*, no raw libc in StorageCore, one logging bootstrap, no file over 400 lines"
exit "$status"
