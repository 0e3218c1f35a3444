#!/usr/bin/env bash
# snapctl as an operator meets it: --version, shell completions, progress lines on a terminal
# (a pseudo-terminal from script(1)) and none when not on one, errors that name the remedy.
# Root (a file-backend pool).   Tests/cli/run-cli.sh /path/to/snapctl
set -uo pipefail
snapctl=$(realpath "${1:?usage: run-cli.sh /path/to/snapctl}")
work=$(mktemp -d /tmp/kbs-cli.XXXXXX)
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
s() { "$snapctl" "$@" --state-dir "$work/kbs"; }
trap 'umount "$work/m" 2>/dev/null; "$snapctl" pool destroy --force -q --state-dir "$work/kbs" 2>/dev/null; rm -rf "$work"' EXIT

version=$(sed -n 's/.*static let version = "\(.*\)".*/\1/p' "$(dirname "$0")/../../Sources/StorageCore/Engine/Release.swift")
check "snapctl --version prints the release ($version)" test "$("$snapctl" --version)" = "$version"
for shell in bash zsh fish; do
  check "a $shell completion script is generated and knows the subcommands" sh -c "'$snapctl' --generate-completion-script $shell | grep -q volume"
done
check "pool create" s pool create -q --pool-size 2GiB --device-size 1GiB
check "pool status names the release" sh -c "'$snapctl' pool status --state-dir '$work/kbs' | grep -q 'version *kata-block $version'"

python3 - "$work/layer.tar" <<'PY'
import io, os, sys, tarfile
with tarfile.open(sys.argv[1], "w") as tar:
    for i in range(6):
        info = tarfile.TarInfo(f"blob-{i}")
        info.size = 48 << 20
        tar.addfile(info, io.BytesIO(os.urandom(info.size)))
PY
s layer import plain "$work/layer.tar" > "$work/out" 2> "$work/err"
check "layer import off a terminal: the result line alone, nothing on stderr" \
  sh -c "grep -q '^plain	6 members' '$work/out' && test ! -s '$work/err'"
script -qec "'$snapctl' layer import --state-dir '$work/kbs' shown '$work/layer.tar'" /dev/null > "$work/tty" 2>&1
check "layer import on a terminal: a progress line with bytes and a percentage" grep -qE 'importing shown: [0-9.]+[KMG]iB of 288.0MiB \([0-9]+%\)' "$work/tty"
check "... and the result line after it" grep -q 'shown	6 members' "$work/tty"
script -qec "'$snapctl' layer export --state-dir '$work/kbs' shown '$work/out.tar'" /dev/null > "$work/tty" 2>&1
check "layer export on a terminal ends with its result line (the tar, its file data)" grep -qF "$work/out.tar	288.0MiB of file data" "$work/tty"
same_files() {  # same_files A.tar B.tar: the same six regular files with the same bytes
  python3 - "$1" "$2" <<'PY'
import hashlib, sys, tarfile
def files(path):
    with tarfile.open(path) as tar:
        return {m.name.lstrip("./"): hashlib.sha256(tar.extractfile(m).read()).hexdigest() for m in tar if m.isfile()}
a, b = files(sys.argv[1]), files(sys.argv[2])
sys.exit(0 if a == b and len(a) == 6 else 1)
PY
}
check "... and the exported tar holds the imported files, byte for byte" same_files "$work/layer.tar" "$work/out.tar"
s layer export -q shown "$work/out2.tar" > "$work/out" 2> "$work/err"
check "layer export with --quiet: silent" sh -c "test ! -s '$work/out' && test ! -s '$work/err'"

names_without_paths() { local out; out=$(s snapshot rm nosuch 2>&1); grep -q '"nosuch"' <<<"$out" && ! grep -q '/pool/' <<<"$out"; }
check "an unknown snapshot: the error names it, no internal path" names_without_paths
mkdir -p "$work/m"
s snapshot prepare -q big --size 4GiB > /dev/null
mount "$(s snapshot mounts -q big)" "$work/m"
# Filled until less than 7% of the pool is free (looked at directly: the pool's own XFS).
free_percent() { df --output=avail,size -B1 "$work/kbs/pool/xfs" | awk 'NR == 2 {print int($1 * 100 / $2)}'; }
i=0; while [ "$(free_percent)" -ge 7 ] && [ $i -lt 100 ]; do
  dd if=/dev/urandom of="$work/m/fill-$i" bs=1M count=32 conv=fsync status=none; i=$((i + 1))
done
refused_with_numbers() {
  local out rc; out=$(s snapshot prepare refused 2>&1); rc=$?
  echo "     | $out"
  [ "$rc" -ne 0 ] && grep -q 'below min_free 10%' <<<"$out" && grep -q 'snapctl pool grow' <<<"$out"
}
check "below min_free: refused with the numbers and what to do" refused_with_numbers
check "pool set --min-free 5% on the pool in use" sh -c "'$snapctl' pool set --min-free 5% --state-dir '$work/kbs' | grep -q 'new snapshots refused below 5% free'"
accepted() { s snapshot prepare -q accepted > /dev/null; }
check "... and the same snapshot is accepted" accepted
nothing_to_change() { local out rc; out=$(s pool set 2>&1); rc=$?; [ "$rc" -ne 0 ] && grep -q 'nothing to change' <<<"$out"; }
check "pool set with nothing to change: refused, saying what to give" nothing_to_change
umount "$work/m"
echo "snapctl for operators: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
