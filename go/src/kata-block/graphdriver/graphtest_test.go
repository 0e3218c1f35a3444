package graphdriver_test

// containers/storage's own driver suite (drivers/graphtest, from Debian's
// golang-github-containers-storage-dev) against kata-block, plus the size test that replaces
// graphtest's SetQuota (which wants a project-quota EDQUOT no block device gives). Needs root;
// KBS_SNAPCTL names the snapctl that takes the test pool down afterwards. Options come from
// KBS_DRIVER_OPTIONS (space-separated KEY=VALUE), e.g. "backend=dm-thin" in the VM.

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	kata "kata-block/graphdriver"

	graphdriver "github.com/containers/storage/drivers"
	"github.com/containers/storage/drivers/graphtest"
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
