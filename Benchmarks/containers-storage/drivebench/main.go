// drivebench drives one containers/storage graph driver in-process, the way containers/storage
// itself calls it, and prints what a user of that driver waits for: ApplyDiff throughput of
// layer tars, a container layer's Create, Get + Put and Remove latency. It prints numbers and
// asserts nothing. Built in GOPATH mode (Tests/containers-storage/go-env.sh) with kata-block,
// overlay and vfs linked in, so the three are driven by the same code in one process type.
//
//	drivebench -driver NAME -home DIR [-n N] [-repeat R] [-o KEY=VALUE ...] LAYER.tar ...
//
// Output: one line per measurement, tab-separated: driver, measurement, value, unit.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	graphdriver "github.com/containers/storage/drivers"
	_ "github.com/containers/storage/drivers/overlay"
	_ "github.com/containers/storage/drivers/vfs"
	"github.com/containers/storage/pkg/reexec"
	_ "kata-block/graphdriver"
)

type options []string

func (o *options) String() string     { return strings.Join(*o, ",") }
func (o *options) Set(v string) error { *o = append(*o, v); return nil }

func main() {
	// overlay's and vfs's ApplyDiff re-execute this binary (chrootarchive).
	if reexec.Init() {
		return
	}
	name := flag.String("driver", "", "graph driver: kata-block, overlay or vfs")
	home := flag.String("home", "", "the driver's home directory")
	runRoot := flag.String("runroot", "", "the driver's run directory (default: HOME-run)")
	n := flag.Int("n", 100, "iterations of each latency measurement")
	repeat := flag.Int("repeat", 3, "ApplyDiff runs per layer tar (the median is printed)")
	var driverOptions options
	flag.Var(&driverOptions, "o", "driver option KEY=VALUE (repeatable)")
	flag.Parse()
	if *name == "" || *home == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: drivebench -driver NAME -home DIR [-n N] [-repeat R] [-o KEY=VALUE ...] LAYER.tar ...")
		os.Exit(2)
	}
	if *runRoot == "" {
		*runRoot = *home + "-run"
	}
	for _, dir := range []string{*home, *runRoot} {
		check(os.MkdirAll(dir, 0o700), "mkdir "+dir)
	}
	driver, err := graphdriver.New(*name, graphdriver.Options{Root: *home, RunRoot: *runRoot, DriverOptions: driverOptions})
	check(err, "init")
	defer driver.Cleanup()
	b := bench{driver: driver, name: *name}
	var top string
	for i, tarball := range flag.Args() {
		label := strings.TrimSuffix(filepath.Base(tarball), ".tar")
		top = b.applyDiff(tarball, label, i, *repeat)
	}
	b.containerLayer(top, *n)
	b.removeAll()
}

type bench struct {
	driver graphdriver.Driver
	name   string
	layers []string // made by the run, removed at its end (children first)
}

func (b *bench) report(measurement string, value float64, unit string) {
	fmt.Printf("%s\t%s\t%.3f\t%s\n", b.name, measurement, value, unit)
}

// applyDiff applies the tar into a fresh layer `repeat` times and reports the median MiB/s;
// returns the id of the last layer.
func (b *bench) applyDiff(tarball, label string, index, repeat int) string {
	info, err := os.Stat(tarball)
	check(err, "stat "+tarball)
	var rates []float64
	var id string
	for r := 0; r < repeat; r++ {
		id = fmt.Sprintf("layer-%d-%d", index, r)
		check(b.driver.Create(id, "", nil), "create "+id)
		b.layers = append(b.layers, id)
		file, err := os.Open(tarball)
		check(err, "open "+tarball)
		start := time.Now()
		_, err = b.driver.ApplyDiff(id, "", graphdriver.ApplyDiffOpts{Diff: file})
		elapsed := time.Since(start)
		file.Close()
		check(err, "ApplyDiff "+id)
		rates = append(rates, float64(info.Size())/(1<<20)/elapsed.Seconds())
	}
	b.report("ApplyDiff "+label, median(rates), "MiB/s")
	return id
}

// containerLayer measures what starting and removing a container costs the driver: a writable
// layer on the image's top layer, Get (mount) and Put (unmount) of it, and its removal.
func (b *bench) containerLayer(parent string, n int) {
	var create, get, put, remove []float64
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("container-%d", i)
		t := time.Now()
		check(b.driver.CreateReadWrite(id, parent, nil), "CreateReadWrite "+id)
		create = append(create, ms(t))
		t = time.Now()
		root, err := b.driver.Get(id, graphdriver.MountOpts{})
		check(err, "Get "+id)
		get = append(get, ms(t))
		check(os.WriteFile(filepath.Join(root, "written"), []byte(id), 0o644), "write into "+id)
		t = time.Now()
		check(b.driver.Put(id), "Put "+id)
		put = append(put, ms(t))
		t = time.Now()
		check(b.driver.Remove(id), "Remove "+id)
		remove = append(remove, ms(t))
	}
	// Get + Put of one layer again and again: what a second mount of a running container costs.
	id := "container-again"
	check(b.driver.CreateReadWrite(id, parent, nil), "CreateReadWrite "+id)
	b.layers = append(b.layers, id)
	var cycle []float64
	for i := 0; i < n; i++ {
		t := time.Now()
		_, err := b.driver.Get(id, graphdriver.MountOpts{})
		check(err, "Get "+id)
		check(b.driver.Put(id), "Put "+id)
		cycle = append(cycle, ms(t))
	}
	for _, m := range []struct {
		what   string
		values []float64
	}{{"container layer Create", create}, {"first Get", get}, {"last Put", put}, {"Get + Put", cycle}, {"Remove", remove}} {
		b.report(m.what+" p50", percentile(m.values, 50), "ms")
		b.report(m.what+" p99", percentile(m.values, 99), "ms")
	}
}

func (b *bench) removeAll() {
	for i := len(b.layers) - 1; i >= 0; i-- {
		check(b.driver.Remove(b.layers[i]), "Remove "+b.layers[i])
	}
}

func ms(since time.Time) float64 { return float64(time.Since(since).Microseconds()) / 1000 }

func median(values []float64) float64 { return percentile(values, 50) }

func percentile(values []float64, p int) float64 {
	sorted := append([]float64(nil), values...)
	sort.Float64s(sorted)
	return sorted[(len(sorted)-1)*p/100]
}

func check(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "drivebench: %s: %v\n", what, err)
		os.Exit(1)
	}
}
