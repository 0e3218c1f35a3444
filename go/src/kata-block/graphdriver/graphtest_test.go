package graphdriver_test

// containers/storage's own driver suite (drivers/graphtest, from Debian's
// golang-github-containers-storage-dev) against kata-block, plus the size test that replaces
// graphtest's SetQuota (which wants a project-quota EDQUOT no block device gives). Needs root;
// KBS_SNAPCTL names the snapctl that takes the test pool down afterwards. Options come from
// KBS_DRIVER_OPTIONS (space-separated KEY=VALUE), e.g. "backend=dm-thin" in the VM.

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	kata "kata-block/graphdriver"

	graphdriver "github.com/containers/storage/drivers"
	"github.com/containers/storage/drivers/graphtest"
	"github.com/containers/storage/types"
)

func driverOptions() []string {
	options := []string{"default_size=512MiB", "file.pool_size=16GiB", "dm_thin.data_size=4GiB"}
	return append(options, strings.Fields(os.Getenv("KBS_DRIVER_OPTIONS"))...)
}

func TestGraphtest(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("graphtest needs root (loop devices, mounts)")
	}
	options := driverOptions()
	// Hold the suite's shared driver for the whole run, so the pool can be taken down before
	// graphtest removes its directory.
	held := graphtest.GetDriver(t, kata.Name, options...)
	home := held.(*graphtest.Driver).Driver.(*kata.Driver).StateDir()
	defer func() {
		destroyPool(t, home)
		graphtest.PutDriver(t)
	}()

	t.Run("CreateEmpty", func(t *testing.T) { graphtest.DriverTestCreateEmpty(t, kata.Name, options...) })
	t.Run("CreateBase", func(t *testing.T) { graphtest.DriverTestCreateBase(t, kata.Name, options...) })
	t.Run("CreateSnap", func(t *testing.T) { graphtest.DriverTestCreateSnap(t, kata.Name, options...) })
	t.Run("CreateFromTemplate", func(t *testing.T) { graphtest.DriverTestCreateFromTemplate(t, kata.Name, options...) })
	t.Run("DeepLayerRead128", func(t *testing.T) { graphtest.DriverTestDeepLayerRead(t, 128, kata.Name, options...) })
	t.Run("DiffApply10", func(t *testing.T) { graphtest.DriverTestDiffApply(t, 10, kata.Name, options...) })
	t.Run("Changes", func(t *testing.T) { graphtest.DriverTestChanges(t, kata.Name, options...) })
	t.Run("Echo", func(t *testing.T) { graphtest.DriverTestEcho(t, kata.Name, options...) })
	t.Run("Size", func(t *testing.T) { testSize(t, held) })
	t.Run("BadInput", func(t *testing.T) { testBadInput(t, held) })
	t.Run("ReencodeDiff", func(t *testing.T) { testReencodeDiff(t, held) })
	t.Run("FullPool", testFullPool)
}

// testFullPool: on a small pool of its own (a 128 MiB thin-pool, or a 320 MiB XFS pool file), a
// layer is filled until the pool's free space falls below its min_free guard; then a new layer
// is refused with ENOSPC (nothing made), what is stored stays readable, and once the filled
// layer is removed new layers are made again.
func testFullPool(t *testing.T) {
	options := []string{"backend=file", "file.pool_size=320MiB", "default_size=512MiB"}
	if strings.Contains(os.Getenv("KBS_DRIVER_OPTIONS"), "backend=dm-thin") {
		options = []string{"backend=dm-thin", "dm_thin.pool_name=kbs-graphtest-full", "dm_thin.data_size=128MiB", "default_size=512MiB"}
	}
	home := t.TempDir()
	driver, err := graphdriver.New(kata.Name, graphdriver.Options{Root: home, DriverOptions: options})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		driver.Cleanup()
		destroyPool(t, driver.(*kata.Driver).StateDir())
	}()
	if err := driver.Create("filled", "", nil); err != nil {
		t.Fatal(err)
	}
	root, err := driver.Get("filled", graphdriver.MountOpts{})
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4<<20)
	for i := range chunk {
		chunk[i] = byte(i*7 + i>>12)
	}
	refused := false
	for i := 0; i < 96 && !refused; i++ {
		name := filepath.Join(root, fmt.Sprintf("fill-%02d", i))
		if err := os.WriteFile(name, chunk, 0o644); err != nil {
			t.Fatalf("writing %s before the guard refused anything: %v", name, err)
		}
		file, _ := os.Open(name)
		err = file.Sync()
		file.Close()
		if err != nil {
			t.Fatalf("fsync of %s before the guard refused anything: %v", name, err)
		}
		err = driver.Create("more", "", nil)
		if err == nil {
			if err := driver.Remove("more"); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("a new layer in a full pool: %v, want ENOSPC", err)
		}
		t.Logf("after %d MiB: %v", (i+1)*4, err)
		refused = true
	}
	if !refused {
		t.Fatal("384 MiB written into the pool and new layers are still made")
	}
	if driver.Exists("more") {
		t.Error("the refused Create left its layer")
	}
	if data, err := os.ReadFile(filepath.Join(root, "fill-00")); err != nil || !bytes.Equal(data, chunk) {
		t.Errorf("what was stored before the pool filled up reads back differently: %v", err)
	}
	if err := driver.Put("filled"); err != nil {
		t.Fatal(err)
	}
	if err := driver.Remove("filled"); err != nil {
		t.Fatal(err)
	}
	// The thin device's blocks go back to the pool when Remove deletes it (a deferred removal of
	// a device still open may finish a moment later): new layers are made again.
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := driver.Create("after", "", nil)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.ENOSPC) || time.Now().After(deadline) {
			t.Fatalf("after the filled layer was removed: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := driver.Remove("after"); err != nil {
		t.Fatal(err)
	}
}

// testReencodeDiff: what buildah does to a container's Diff in `podman commit` (read every header
// with Go's archive/tar, clear the owner names, write it back) gives a stream of exactly the same
// length, for nanosecond times, long and non-ASCII names, long link targets, big ids and xattrs.
func testReencodeDiff(t *testing.T, driver graphdriver.Driver) {
	if err := driver.Create("reencode", "", nil); err != nil {
		t.Fatal(err)
	}
	defer driver.Remove("reencode")
	root, err := driver.Get("reencode", graphdriver.MountOpts{})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("d", 60) + "/" + strings.Repeat("f", 80)
	for _, dir := range []string{"etc", strings.Repeat("d", 60)} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := []string{"etc/plain", long, strings.Repeat("g", 120), "etc/caf\u00e9", "etc/owned", "etc/attr"}
	for _, name := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(strings.Repeat("t", 150), filepath.Join(root, "etc/link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(root, "etc/owned"), 3000000, 3000000); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setxattr(filepath.Join(root, "etc/attr"), "user.kata", []byte("v\x00\x01"), 0); err != nil {
		t.Logf("no user xattrs here: %v", err)
	}
	stamp := time.Unix(1700000000, 123456789)
	if err := os.Chtimes(filepath.Join(root, "etc/plain"), stamp, stamp); err != nil {
		t.Fatal(err)
	}
	if err := driver.Put("reencode"); err != nil {
		t.Fatal(err)
	}
	diff, err := driver.Diff("reencode", nil, "", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	original, err := io.ReadAll(diff)
	diff.Close()
	if err != nil {
		t.Fatal(err)
	}
	reader := tar.NewReader(bytes.NewReader(original))
	var again bytes.Buffer
	writer := tar.NewWriter(&again)
	members := 0
	for {
		header, err := reader.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		members++
		header.Uname, header.Gname = "", ""
		if err := writer.WriteHeader(header); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(writer, reader); err != nil {
			t.Fatal(err)
		}
	}
	writer.Close()
	if members < len(files)+3 {
		t.Errorf("the diff holds %d members, want at least %d", members, len(files)+3)
	}
	if again.Len() != len(original) {
		t.Errorf("archive/tar re-encodes the %d-byte diff in %d bytes (buildah: inconsistent layer size)", len(original), again.Len())
	}
}

// testBadInput: each refusal is the containers/storage error callers test for, and changes nothing.
func testBadInput(t *testing.T, driver graphdriver.Driver) {
	expect := func(what string, err error, targets ...error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: accepted", what)
			return
		}
		for _, target := range targets {
			if !errors.Is(err, target) {
				t.Errorf("%s: %v is not %v", what, err, target)
			}
		}
		t.Logf("%s: %v", what, err)
	}
	_, err := driver.Get("no-such-layer", graphdriver.MountOpts{})
	expect("Get of an unknown layer", err, graphdriver.ErrLayerUnknown, types.ErrLayerUnknown)
	expect("Create on a missing parent", driver.Create("orphan", "no-such-parent", nil), graphdriver.ErrLayerUnknown)
	if driver.Exists("orphan") {
		t.Error("a refused Create left its layer")
	}
	expect("Remove of an unknown layer", driver.Remove("no-such-layer"), graphdriver.ErrLayerUnknown)

	if err := driver.Create("big", "", &graphdriver.CreateOpts{StorageOpt: map[string]string{"size": "1G"}}); err != nil {
		t.Fatal(err)
	}
	defer driver.Remove("big")
	expect("Create of an existing id", driver.Create("big", "", nil), types.ErrDuplicateID)
	expect("a child smaller than its parent", driver.Create("small", "big", &graphdriver.CreateOpts{StorageOpt: map[string]string{"size": "600M"}}),
		syscall.EINVAL)
	if metadata, err := driver.Metadata("big"); err != nil || metadata["Kind"] != "active" {
		t.Errorf("a refused child changed its parent: %v %v", metadata, err)
	}
	if _, err := driver.Get("big", graphdriver.MountOpts{}); err != nil {
		t.Fatal(err)
	}
	expect("Remove of a mounted layer", driver.Remove("big"), syscall.EBUSY)
	if err := driver.Put("big"); err != nil {
		t.Fatal(err)
	}

	// A hostile tar: a name climbing out of the layer. Refused; nothing outside is written.
	outside := filepath.Join(os.TempDir(), "kbs-escaped")
	os.Remove(outside)
	var tarball bytes.Buffer
	writer := tar.NewWriter(&tarball)
	content := []byte("escaped")
	writer.WriteHeader(&tar.Header{Name: "../../../../../../../../" + outside, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
	writer.Write(content)
	writer.Close()
	if err := driver.Create("hostile", "", nil); err != nil {
		t.Fatal(err)
	}
	_, err = driver.ApplyDiff("hostile", "", graphdriver.ApplyDiffOpts{Diff: &tarball})
	expect("ApplyDiff of a tar climbing out of the layer", err, syscall.EINVAL)
	if _, statErr := os.Stat(outside); statErr == nil {
		t.Errorf("the hostile tar wrote %s", outside)
	}
	if err := driver.Remove("hostile"); err != nil {
		t.Errorf("the layer a hostile tar was refused for cannot be removed: %v", err)
	}
}

// testSize: a size option makes the device that big, writing past it gets ENOSPC, and the
// layer still works afterwards (graphtest's SetQuota expects EDQUOT from a project quota).
func testSize(t *testing.T, driver graphdriver.Driver) {
	if err := driver.Create("sized", "", &graphdriver.CreateOpts{StorageOpt: map[string]string{"size": "1G"}}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := driver.Remove("sized"); err != nil {
			t.Error(err)
		}
	}()
	metadata, err := driver.Metadata("sized")
	if err != nil {
		t.Fatal(err)
	}
	if metadata["DeviceSize"] != "1073741824" {
		t.Fatalf("device size %q, want 1073741824", metadata["DeviceSize"])
	}
	if err := driver.Create("too-small", "", &graphdriver.CreateOpts{StorageOpt: map[string]string{"size": "1M"}}); err == nil {
		driver.Remove("too-small")
		t.Fatal("a size below the base device's was accepted")
	}
	if err := driver.Create("bad-option", "", &graphdriver.CreateOpts{StorageOpt: map[string]string{"inodes": "5"}}); err == nil {
		driver.Remove("bad-option")
		t.Fatal("an unknown storage option was accepted")
	}
	root, err := driver.Get("sized", graphdriver.MountOpts{})
	if err != nil {
		t.Fatal(err)
	}
	defer driver.Put("sized")
	var statfs syscall.Statfs_t
	if err := syscall.Statfs(root, &statfs); err != nil {
		t.Fatal(err)
	}
	if total := int64(statfs.Blocks) * statfs.Bsize; total < 900<<20 || total > 1<<30 {
		t.Fatalf("the filesystem holds %d bytes; a 1G device was asked for", total)
	}
	file, err := os.Create(filepath.Join(root, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4<<20)
	var written int64
	for written = 0; written < 3<<29; written += int64(len(chunk)) {
		if _, err = file.Write(chunk); err != nil {
			break
		}
	}
	if err == nil {
		err = file.Sync()
	}
	file.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("writing 1.5G into a 1G layer: got %v after %d bytes, want ENOSPC", err, written)
	}
	if err := os.Remove(filepath.Join(root, "fill")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "after"), []byte("still works"), 0o644); err != nil {
		t.Fatalf("the layer is not usable after ENOSPC: %v", err)
	}
}

func destroyPool(t *testing.T, home string) {
	snapctl := os.Getenv("KBS_SNAPCTL")
	if snapctl == "" {
		t.Error("KBS_SNAPCTL is not set: the test pool in " + home + " is left behind")
		return
	}
	out, err := exec.Command(snapctl, "pool", "destroy", "--state-dir", home, "--force").CombinedOutput()
	if err != nil {
		t.Errorf("taking the test pool down: %v\n%s", err, out)
	}
}
