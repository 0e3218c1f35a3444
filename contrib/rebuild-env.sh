# Sourced by contrib/podman/build-podman.sh and contrib/skopeo/build-skopeo.sh: what rebuilding a
# Debian containers/storage program with the kata-block driver needs. Needs $repo and $bin.
# The driver's sources (Go package and C header): a rebuild is cached by their contents.
driver=("$repo"/go/src/kata-block/graphdriver/{driver,diff,cvalues}.go "$repo/Sources/CKataBlockDriver/kata_block_driver.h")

# cache_key FILE...: a short digest of these files, the driver's sources and $bin (the library's
# directory is baked into the binary's rpath).
cache_key() { cat "$@" "${driver[@]}" <(echo "$bin") | sha256sum | cut -c1-16; }

# debian_source PACKAGE CACHE: Debian's source package, unpacked once under CACHE/source; prints its tree.
debian_source() {
  local package=$1 cache=$2
  mkdir -p "$cache/source"
  if ! ls -d "$cache/source/$package"-*/ >/dev/null 2>&1; then
    (cd "$cache/source" && apt-get source -qq "$package" >&2)
  fi
  ls -d "$cache/source/$package"-*/ | head -1
}
