// Drives containerd's snapshots API through containerd's own proxy client, the path containerd
// itself uses for proxy snapshotters, and prints ops/s. Also serves containerd's overlayfs and
// native snapshotters through contrib/snapshotservice, so that every snapshotter is measured
// over the same socket path.
//
//	snapbench-go serve overlayfs|native ROOT SOCKET
//	snapbench-go serve devmapper ROOT SOCKET CONFIG.toml   (containerd's devmapper snapshotter)
//	snapbench-go run NAME SOCKET CLIENTS ITERATIONS
//	snapbench-go fill SOCKET COUNT
//	snapbench-go stat SOCKET COUNT     (per-call overhead of the API path on one key)
package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/contrib/snapshotservice"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/mount"
	"github.com/containerd/containerd/snapshots"
	"github.com/containerd/containerd/snapshots/devmapper"
	"github.com/containerd/containerd/snapshots/native"
	"github.com/containerd/containerd/snapshots/overlay"
	"github.com/containerd/containerd/snapshots/proxy"
	"google.golang.org/grpc"
)

func envInt(name string, fallback int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return fallback
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "snapbench-go: "+format+"\n", args...)
	os.Exit(1)
}

func serve(kind, root, socket, config string) {
	var sn snapshots.Snapshotter
	var err error
	switch kind {
	case "devmapper":
		var c *devmapper.Config
		if c, err = devmapper.LoadConfig(config); err == nil {
			sn, err = devmapper.NewSnapshotter(context.Background(), c)
		}
	case "overlayfs":
		sn, err = overlay.NewSnapshotter(root)
	case "native":
		sn, err = native.NewSnapshotter(root)
	default:
		fail("unknown snapshotter %s", kind)
	}
	if err != nil {
		fail("%v", err)
	}
	os.Remove(socket)
	l, err := net.Listen("unix", socket)
	if err != nil {
		fail("%v", err)
	}
	server := grpc.NewServer()
	snapshotsapi.RegisterSnapshotsServer(server, snapshotservice.FromSnapshotter(sn))
	go func() {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
		<-c
		server.GracefulStop()
	}()
	if err := server.Serve(l); err != nil {
		fail("%v", err)
	}
}

func connect(socket string) snapshots.Snapshotter {
	conn, err := grpc.Dial("unix://"+socket, grpc.WithInsecure())
	if err != nil {
		fail("%v", err)
	}
	return proxy.NewSnapshotter(snapshotsapi.NewSnapshotsClient(conn), "bench")
}

type result struct {
	op      string
	ops     int
	elapsed time.Duration
	lat     []time.Duration
	mib     float64
}

// measure runs op(client, i) for i in [0, n) spread over `clients` goroutines.
func measure(name string, clients, n int, op func(c, i int) error) result {
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := c; i < n; i += clients {
				t := time.Now()
				if err := op(c, i); err != nil {
					fail("%s %d: %v", name, i, err)
				}
				d := time.Since(t)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}(c)
	}
	wg.Wait()
	return result{op: name, ops: n, elapsed: time.Since(start), lat: lat}
}

func (r result) median() time.Duration {
	sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
	return r.lat[len(r.lat)/2]
}

// unpack: prepare, mount, write 1,000 files / 64 MiB, unmount, commit, as an image unpack does.
func unpack(ctx context.Context, sn snapshots.Snapshotter, work string, key, name string) error {
	mounts, err := sn.Prepare(ctx, key, "")
	if err != nil {
		return err
	}
	target := filepath.Join(work, key)
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if err := mount.All(mounts, target); err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	rand.Read(buf)
	for f := 0; f < 1000; f++ {
		dir := filepath.Join(target, "d"+strconv.Itoa(f%20))
		os.MkdirAll(dir, 0o755)
		if err := os.WriteFile(filepath.Join(dir, "f"+strconv.Itoa(f)), buf[:(64<<10)+0], 0o644); err != nil {
			mount.UnmountAll(target, 0)
			return err
		}
	}
	if err := mount.UnmountAll(target, 0); err != nil {
		return err
	}
	return sn.Commit(ctx, name, key)
}

func run(name, socket string, clients, n int) {
	ctx := context.Background()
	sn := connect(socket)
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	k := func(kind string, i int) string { return fmt.Sprintf("%s/%s/%d", run, kind, i) }
	var results []result
	results = append(results, measure("Prepare", clients, n, func(_, i int) error {
		_, err := sn.Prepare(ctx, k("a", i), "")
		return err
	}))
	results = append(results, measure("Commit", clients, n, func(_, i int) error { return sn.Commit(ctx, k("c", i), k("a", i)) }))
	results = append(results, measure("Prepare on a parent", clients, n, func(_, i int) error {
		_, err := sn.Prepare(ctx, k("child", i), k("c", i))
		return err
	}))
	results = append(results, measure("Stat", clients, n*10, func(_, i int) error {
		_, err := sn.Stat(ctx, k("c", i%n))
		return err
	}))
	results = append(results, measure("Mounts", clients, n, func(_, i int) error {
		_, err := sn.Mounts(ctx, k("child", i))
		return err
	}))
	results = append(results, measure("View", clients, n, func(_, i int) error {
		_, err := sn.View(ctx, k("v", i), k("c", i))
		return err
	}))
	// Walk over at least 1,000 snapshots (SNAPBENCH_WALK sets another count: under emulation,
	// containerd's devmapper takes most of a second per snapshot).
	walkCount := envInt("SNAPBENCH_WALK", 1000)
	for i := 0; 3*n+i < walkCount; i++ {
		if _, err := sn.Prepare(ctx, k("w", i), k("c", 0)); err != nil {
			fail("fill: %v", err)
		}
	}
	results = append(results, measure(fmt.Sprintf("Walk over %d", walkCount), clients, 20, func(_, i int) error {
		count := 0
		err := sn.Walk(ctx, func(context.Context, snapshots.Info) error { count++; return nil })
		if err == nil && count < walkCount {
			err = fmt.Errorf("walk saw %d", count)
		}
		return err
	}))
	for i := 0; 3*n+i < walkCount; i++ {
		if err := sn.Remove(ctx, k("w", i)); err != nil {
			fail("walk cleanup: %v", err)
		}
	}
	results = append(results, measure("Remove", clients, n, func(_, i int) error {
		if err := sn.Remove(ctx, k("v", i)); err != nil {
			return err
		}
		if err := sn.Remove(ctx, k("child", i)); err != nil {
			return err
		}
		return sn.Remove(ctx, k("c", i))
	}))
	results[len(results)-1].ops = 3 * n
	work, _ := os.MkdirTemp("", "snapbench-unpack-")
	defer os.RemoveAll(work)
	layers := envInt("SNAPBENCH_LAYERS", 8)
	u := measure("Unpack (1,000 files, 64 MiB)", clients, layers, func(_, i int) error {
		return unpack(ctx, sn, work, k("u", i), k("U", i))
	})
	u.mib = float64(layers*64) / u.elapsed.Seconds()
	results = append(results, u)
	for _, r := range results {
		perSecond := float64(r.ops) / r.elapsed.Seconds()
		rate := fmt.Sprintf("%.0f ops/s", perSecond)
		if perSecond < 100 {
			rate = fmt.Sprintf("%.1f ops/s", perSecond)
		}
		if r.mib > 0 {
			rate = fmt.Sprintf("%.1f MiB/s", r.mib)
		}
		fmt.Printf("%s\t%d\t%s\t%s\t%.1f\n", name, clients, r.op, rate, float64(r.median().Microseconds())/1000)
	}
}

func fill(socket string, count int) {
	ctx := context.Background()
	sn := connect(socket)
	parent := ""
	for i := 0; i < count; i++ {
		key := fmt.Sprintf("fill/active/%d", i)
		if _, err := sn.Prepare(ctx, key, parent); err != nil {
			fail("%v", err)
		}
		name := fmt.Sprintf("fill/%d", i)
		if err := sn.Commit(ctx, name, key); err != nil {
			fail("%v", err)
		}
		if i%1000 == 999 {
			fmt.Fprintf(os.Stderr, "filled %d\n", i+1)
		}
	}
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: serve|run|fill ...")
	}
	switch os.Args[1] {
	case "serve":
		config := ""
		if len(os.Args) > 5 {
			config = os.Args[5]
		}
		serve(os.Args[2], os.Args[3], os.Args[4], config)
	case "run":
		clients, _ := strconv.Atoi(os.Args[4])
		n, _ := strconv.Atoi(os.Args[5])
		run(os.Args[2], os.Args[3], clients, n)
	case "stat":
		// stat SOCKET COUNT: one key, COUNT sequential Stat calls (per-call overhead of the API path).
		count, _ := strconv.Atoi(os.Args[3])
		ctx := context.Background()
		sn := connect(os.Args[2])
		if _, err := sn.Prepare(ctx, "stat-probe", ""); err != nil && !errdefs.IsAlreadyExists(err) {
			fail("%v", err)
		}
		r := measure("Stat", 1, count, func(_, _ int) error { _, err := sn.Stat(ctx, "stat-probe"); return err })
		fmt.Printf("Stat\t%.0f ops/s\t%.1f us median\n", float64(r.ops)/r.elapsed.Seconds(), float64(r.median().Nanoseconds())/1000)
	case "statbench":
		// statbench SOCKET CLIENTS COUNT: Stat of one key from CLIENTS goroutines on one connection
		// (as containerd's proxy client shares one), after 500 calls of warm-up; prints
		// "ops/s p50-us p99-us". A server without Prepare (the floor servers) answers Stat anyway.
		clients, _ := strconv.Atoi(os.Args[3])
		count, _ := strconv.Atoi(os.Args[4])
		ctx := context.Background()
		sn := connect(os.Args[2])
		_, _ = sn.Prepare(ctx, "stat-probe", "")
		stat := func(_, _ int) error { _, err := sn.Stat(ctx, "stat-probe"); return err }
		measure("warm-up", clients, 500, stat)
		r := measure("Stat", clients, count, stat)
		sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
		p99 := r.lat[len(r.lat)*99/100]
		fmt.Printf("%.0f\t%.1f\t%.1f\n", float64(r.ops)/r.elapsed.Seconds(), float64(r.lat[len(r.lat)/2].Nanoseconds())/1000,
			float64(p99.Nanoseconds())/1000)
	case "fill":
		count, _ := strconv.Atoi(os.Args[3])
		fill(os.Args[2], count)
	default:
		fail("unknown command %s", os.Args[1])
	}
}
