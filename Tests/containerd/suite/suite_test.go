// containerd's own snapshotter test suite (snapshots/testsuite) run through containerd's proxy
// client against `snapctl serve`: a fresh daemon and pool per test.
//
//	GO111MODULE=off GOPATH=/usr/share/gocode SNAPCTL=/path/to/snapctl go test -v . -args -test.root
package suite

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/snapshots"
	"github.com/containerd/containerd/snapshots/proxy"
	"github.com/containerd/containerd/snapshots/testsuite"
	"google.golang.org/grpc"
)

// The backend comes from KBS_SUITE_BACKEND (file, the default, or dm-thin in the VM).
const config = `
backend = "%s"
filesystem = "ext4"
default_size = "1GiB"
log_level = "warning"

[file]
pool_size = "8GiB"

[dm_thin]
pool_name = "%s"
data_size = "8GiB"
`

// startDaemon runs `snapctl serve` with its state in root and returns a proxy snapshotter on its socket.
func startDaemon(ctx context.Context, root string) (snapshots.Snapshotter, func() error, error) {
	bin := os.Getenv("SNAPCTL")
	if bin == "" {
		return nil, nil, fmt.Errorf("set SNAPCTL to the snapctl binary")
	}
	configPath := filepath.Join(root, "config.toml")
	backend := os.Getenv("KBS_SUITE_BACKEND")
	if backend == "" {
		backend = "file"
	}
	if err := os.WriteFile(configPath, []byte(fmt.Sprintf(config, backend, fmt.Sprintf("kbs-suite-%d-%d", os.Getpid(), time.Now().UnixNano()))), 0o600); err != nil {
		return nil, nil, err
	}
	state := filepath.Join(root, "state")
	if err := os.MkdirAll("/run/kbs-suite", 0o700); err != nil {
		return nil, nil, err
	}
	socket := filepath.Join("/run/kbs-suite", fmt.Sprintf("%d-%d.sock", os.Getpid(), time.Now().UnixNano()))
	cmd := exec.Command(bin, "serve", "--config", configPath, "--state-dir", state, "--socket", socket)
	// The daemon logs to a file: a daemon that outlived a failed test must not hold the test's
	// output pipe open (the harness would wait for it forever).
	logFile, err := os.Create(filepath.Join(root, "serve.log"))
	if err != nil {
		return nil, nil, err
	}
	defer logFile.Close()
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if st, err := os.Stat(socket); err == nil && st.Mode()&os.ModeSocket != 0 && st.Mode().Perm() == 0o600 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			return nil, nil, fmt.Errorf("snapctl serve did not listen on %s within 30s", socket)
		}
		time.Sleep(10 * time.Millisecond)
	}
	conn, err := grpc.DialContext(ctx, "unix://"+socket, grpc.WithInsecure())
	if err != nil {
		cmd.Process.Kill()
		return nil, nil, err
	}
	sn := proxy.NewSnapshotter(snapshotsapi.NewSnapshotsClient(conn), "kata-block")
	cleanup := func() error {
		conn.Close()
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("snapctl serve did not exit cleanly on SIGTERM: %w", err)
		}
		out, err := exec.Command(bin, "pool", "destroy", "--force", "-q", "--state-dir", state).CombinedOutput()
		if err != nil {
			return fmt.Errorf("pool destroy: %v: %s", err, out)
		}
		return nil
	}
	return sn, cleanup, nil
}

func TestSnapshotterSuite(t *testing.T) {
	testsuite.SnapshotterSuite(t, "KataBlock", startDaemon)
}

// containerd's gRPC-Go client pings with nearly every response it reads; thousands of calls on one
// connection from 4 goroutines must all succeed exactly once (no GOAWAY, no transparent retries
// of calls the daemon already ran). KBS_MANY_CALLS sets the iterations per goroutine (200, 5,600
// calls in all); under emulation the client cannot reach the ping rate that matters, so the VM
// runs fewer.
func TestManyCallsOnOneConnection(t *testing.T) {
	iterations := 200
	if n, err := strconv.Atoi(os.Getenv("KBS_MANY_CALLS")); err == nil && n > 0 {
		iterations = n
	}
	root, err := os.MkdirTemp("", "kbs-many-calls-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	ctx := context.Background()
	sn, cleanup, err := startDaemon(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := cleanup(); err != nil {
			t.Error(err)
		}
	}()
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		go func(w int) {
			for i := 0; i < iterations; i++ {
				key := fmt.Sprintf("w%d/%d", w, i)
				if _, err := sn.Prepare(ctx, key, ""); err != nil {
					errs <- fmt.Errorf("prepare %s: %w", key, err)
					return
				}
				for j := 0; j < 5; j++ {
					if _, err := sn.Stat(ctx, key); err != nil {
						errs <- fmt.Errorf("stat %s: %w", key, err)
						return
					}
				}
				if err := sn.Remove(ctx, key); err != nil {
					errs <- fmt.Errorf("remove %s: %w", key, err)
					return
				}
			}
			errs <- nil
		}(w)
	}
	for w := 0; w < 4; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
