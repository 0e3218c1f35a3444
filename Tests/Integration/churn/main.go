// churn: containerd's own proxy client calling `snapctl serve` without a pause for a while:
// prepare, mounts, stat, walk, commit, view, usage and remove, as containerd unpacking and
// running images does. Every call must succeed; the count of calls and failures is printed.
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o churn . && ./churn SOCKET SECONDS
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/snapshots"
	"github.com/containerd/containerd/snapshots/proxy"
	"google.golang.org/grpc"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: churn SOCKET SECONDS")
		os.Exit(2)
	}
	seconds, err := strconv.Atoi(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "churn: SECONDS must be a number")
		os.Exit(2)
	}
	ctx := context.Background()
	conn, err := grpc.DialContext(ctx, "unix://"+os.Args[1], grpc.WithInsecure())
	if err != nil {
		fmt.Fprintln(os.Stderr, "churn:", err)
		os.Exit(1)
	}
	defer conn.Close()
	sn := proxy.NewSnapshotter(snapshotsapi.NewSnapshotsClient(conn), "kata-block")
	calls, failures := 0, 0
	call := func(what string, err error) bool {
		calls++
		if err != nil {
			failures++
			fmt.Fprintf(os.Stderr, "churn: %s: %v\n", what, err)
			return false
		}
		return true
	}
	prefix := fmt.Sprintf("churn-%d", os.Getpid())
	base := prefix + "/base"
	_, err = sn.Prepare(ctx, base+"-active", "")
	call("prepare base", err)
	call("commit base", sn.Commit(ctx, base, base+"-active"))
	deadline := time.Now().Add(time.Duration(seconds) * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		key := fmt.Sprintf("%s/%d", prefix, i)
		if _, err := sn.Prepare(ctx, key, base); !call("prepare "+key, err) {
			continue
		}
		_, err := sn.Mounts(ctx, key)
		call("mounts "+key, err)
		_, err = sn.Stat(ctx, key)
		call("stat "+key, err)
		call("walk", sn.Walk(ctx, func(context.Context, snapshots.Info) error { return nil }))
		layer := key + "/layer"
		if !call("commit "+key, sn.Commit(ctx, layer, key)) {
			continue
		}
		view := key + "/view"
		_, err = sn.View(ctx, view, layer)
		call("view "+view, err)
		_, err = sn.Usage(ctx, layer)
		call("usage "+layer, err)
		call("remove "+view, sn.Remove(ctx, view))
		call("remove "+layer, sn.Remove(ctx, layer))
	}
	call("remove base", sn.Remove(ctx, base))
	fmt.Printf("churn: %d calls, %d failed\n", calls, failures)
	if failures > 0 {
		os.Exit(1)
	}
}
