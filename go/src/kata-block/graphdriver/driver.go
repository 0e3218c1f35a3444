// Package graphdriver registers "kata-block", the containers/storage graph driver of Kata Block
// Storage: layers are copy-on-write block devices with a filesystem on them, and a layer's mount
// point is its filesystem's root, so a VM runtime (Kata) can hand the device itself to its guest.
//
// A program gets the driver with one blank import of this package. The storage logic lives in
// libkata-block-driver.so (the Swift engine, through kata_block_driver.h); this package only
// decodes containers/storage's calls, calls the library and maps its errors. The process that
// loads it should have SWIFT_BACKTRACE=enable=no in its environment from exec on.
package graphdriver

/*
#cgo LDFLAGS: -lkata-block-driver
#include <stdlib.h>
#include "kata_block_driver.h"
*/
import "C"

import (
	"fmt"
	"os"
	"strings"
	"unsafe"

	graphdriver "github.com/containers/storage/drivers"
	"github.com/containers/storage/pkg/directory"
	"github.com/containers/storage/pkg/idtools"
	units "github.com/docker/go-units"
	"github.com/sirupsen/logrus"
)

// Name is the driver's name in storage.conf and --storage-driver.
const Name = "kata-block"

func init() {
	graphdriver.Register(Name, Init)
}

// Driver is one open pool, seen through the namespace of layers containers/storage uses.
type Driver struct {
	home     string
	stateDir string
	handle   *C.kbd_driver
}

// Init opens (or makes) the pool in the driver's home, or in the state_dir option. Options
// are "kata-block.KEY=VALUE" or "KEY=VALUE"; everything but state_dir goes to the library.
func Init(home string, options graphdriver.Options) (graphdriver.Driver, error) {
	if v := uint32(C.kbd_abi_version()); v != C.KBD_ABI_VERSION {
		return nil, fmt.Errorf("%s: libkata-block-driver.so has ABI version %d, this driver was built for %d: %w",
			Name, v, C.KBD_ABI_VERSION, graphdriver.ErrNotSupported)
	}
	if os.Getenv("SWIFT_BACKTRACE") == "" {
		logrus.Debugf("%s: SWIFT_BACKTRACE is not set; set SWIFT_BACKTRACE=enable=no so a crash cannot hang this process", Name)
	}
	stateDir := home
	var settings []string
	for _, option := range options.DriverOptions {
		key, value, ok := strings.Cut(option, "=")
		if !ok {
			return nil, fmt.Errorf("%s: driver option %q is not KEY=VALUE", Name, option)
		}
		key = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(key)), Name+".")
		if key == "state_dir" {
			stateDir = value
			continue
		}
		settings = append(settings, key+"="+value)
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	cDir := C.CString(stateDir)
	defer C.free(unsafe.Pointer(cDir))
	cOptions := make([]*C.char, len(settings)+1)
	for i, s := range settings {
		cOptions[i] = C.CString(s)
		defer C.free(unsafe.Pointer(cOptions[i]))
	}
	var handle *C.kbd_driver
	var cErr *C.char
	if status := C.kbd_open(cDir, &cOptions[0], C.size_t(len(settings)), &handle, &cErr); status != C.KBD_OK {
		return nil, failure(status, cErr, "opening the pool in "+stateDir)
	}
	return &Driver{home: home, stateDir: stateDir, handle: handle}, nil
}

func (d *Driver) String() string { return Name }

// Create makes an image layer: empty (root mode 0555) or on parent, which it freezes in place.
func (d *Driver) Create(id, parent string, opts *graphdriver.CreateOpts) error {
	return d.create(id, parent, opts, false)
}

// CreateReadWrite makes a container layer.
func (d *Driver) CreateReadWrite(id, parent string, opts *graphdriver.CreateOpts) error {
	return d.create(id, parent, opts, true)
}

func (d *Driver) create(id, parent string, opts *graphdriver.CreateOpts, writable bool) error {
	size, err := sizeOption(opts)
	if err != nil {
		return err
	}
	cID, cParent := cString(id), cString(parent)
	defer free(cID, cParent)
	var cErr *C.char
	return check(C.kbd_create(d.handle, cID, cParent, cBool(writable), C.uint64_t(size), &cErr), cErr, "creating layer "+id)
}

// CreateFromTemplate makes a layer whose contents are a copy-on-write copy of template's.
func (d *Driver) CreateFromTemplate(id, template string, templateIDMappings *idtools.IDMappings, parent string,
	parentIDMappings *idtools.IDMappings, opts *graphdriver.CreateOpts, readWrite bool) error {
	if _, err := sizeOption(opts); err != nil {
		return err
	}
	cID, cTemplate := cString(id), cString(template)
	defer free(cID, cTemplate)
	var cErr *C.char
	return check(C.kbd_create_from_template(d.handle, cID, cTemplate, cBool(readWrite), &cErr), cErr, "creating layer "+id+" from "+template)
}

func (d *Driver) Remove(id string) error {
	cID := cString(id)
	defer free(cID)
	var cErr *C.char
	return check(C.kbd_remove(d.handle, cID, &cErr), cErr, "removing layer "+id)
}

// Get mounts the layer and returns its mount point, the root of its filesystem.
func (d *Driver) Get(id string, options graphdriver.MountOpts) (string, error) {
	cID, cOptions := cString(id), cString(strings.Join(options.Options, ","))
	defer free(cID, cOptions)
	var cDir, cErr *C.char
	if status := C.kbd_get(d.handle, cID, cOptions, &cDir, &cErr); status != C.KBD_OK {
		return "", failure(status, cErr, "mounting layer "+id)
	}
	defer C.kbd_free(unsafe.Pointer(cDir))
	return C.GoString(cDir), nil
}

func (d *Driver) Put(id string) error {
	cID := cString(id)
	defer free(cID)
	var cErr *C.char
	return check(C.kbd_put(d.handle, cID, &cErr), cErr, "unmounting layer "+id)
}

func (d *Driver) Exists(id string) bool {
	cID := cString(id)
	defer free(cID)
	return C.kbd_exists(d.handle, cID) == 1
}

func (d *Driver) Status() [][2]string {
	var buffer *C.char
	var length C.size_t
	var cErr *C.char
	if status := C.kbd_status(d.handle, &buffer, &length, &cErr); status != C.KBD_OK {
		return [][2]string{{"Error", failure(status, cErr, "reading the pool's status").Error()}}
	}
	return pairs(cList(buffer, length))
}

func (d *Driver) Metadata(id string) (map[string]string, error) {
	cID := cString(id)
	defer free(cID)
	var buffer, cErr *C.char
	var length C.size_t
	if status := C.kbd_metadata(d.handle, cID, &buffer, &length, &cErr); status != C.KBD_OK {
		return nil, failure(status, cErr, "reading layer "+id)
	}
	result := map[string]string{}
	for _, pair := range pairs(cList(buffer, length)) {
		result[pair[0]] = pair[1]
	}
	return result, nil
}

// ReadWriteDiskUsage is the engine's exact usage: bytes the layer does not share with its parent.
func (d *Driver) ReadWriteDiskUsage(id string) (*directory.DiskUsage, error) {
	cID := cString(id)
	defer free(cID)
	var bytes, inodes C.int64_t
	var cErr *C.char
	if err := check(C.kbd_usage(d.handle, cID, &bytes, &inodes, &cErr), cErr, "reading the usage of layer "+id); err != nil {
		return nil, err
	}
	return &directory.DiskUsage{Size: int64(bytes), InodeCount: int64(inodes)}, nil
}

// Cleanup releases this process's use of the pool; mounts and devices stay for other processes.
func (d *Driver) Cleanup() error {
	if d.handle != nil {
		C.kbd_close(d.handle)
		d.handle = nil
	}
	return nil
}

func (d *Driver) AdditionalImageStores() []string { return nil }

// UpdateLayerIDMap: layers are not shifted on disk; only identity mappings are accepted.
func (d *Driver) UpdateLayerIDMap(id string, toContainer, toHost *idtools.IDMappings, mountLabel string) error {
	if (toContainer == nil || toContainer.Empty()) && (toHost == nil || toHost.Empty()) {
		return nil
	}
	return fmt.Errorf("%s: layer %s: ID-mapped layers (user namespaces) are not supported: %w", Name, id, graphdriver.ErrNotSupported)
}

func (d *Driver) SupportsShifting() bool { return false }

func sizeOption(opts *graphdriver.CreateOpts) (uint64, error) {
	if opts == nil {
		return 0, nil
	}
	var size uint64
	for key, value := range opts.StorageOpt {
		switch strings.ToLower(key) {
		case "size":
			bytes, err := units.RAMInBytes(value)
			if err != nil || bytes <= 0 {
				return 0, fmt.Errorf("%s: storage option size=%q is not a size (e.g. 20G): %w", Name, value, graphdriver.ErrNotSupported)
			}
			size = uint64(bytes)
		default:
			return 0, fmt.Errorf("%s: unknown storage option %q (only size is supported): %w", Name, key, graphdriver.ErrNotSupported)
		}
	}
	return size, nil
}

var _ graphdriver.Driver = (*Driver)(nil)

// StateDir is the state directory of the pool the driver opened.
func (d *Driver) StateDir() string { return d.stateDir }
