# Sourced: the Go environment for the containers/storage frontend (GOPATH mode, offline): our
# driver package under go/, containers/storage from Debian's golang-github-containers-storage-dev,
# and cgo pointed at the driver library built by SwiftPM (found at run time through its rpath).
# Needs $bin, the SwiftPM build directory holding libkata-block-driver.so.
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export GO111MODULE=off GOFLAGS= GOPATH="$repo/go:/usr/share/gocode" GOCACHE=${GOCACHE:-/var/cache/kata-block/go-build}
export CGO_CFLAGS="-I$repo/Sources/CKataBlockDriver" CGO_LDFLAGS="-L$bin -Wl,-rpath,$bin"
# A crash inside the Swift library must end the process, not wait on a backtrace helper.
export SWIFT_BACKTRACE=enable=no
