package graphdriver

/*
#include <stdlib.h>
#include "kata_block_driver.h"
*/
import "C"

import (
	"fmt"
	"io"
	"os"

	graphdriver "github.com/containers/storage/drivers"
	"github.com/containers/storage/pkg/archive"
	"github.com/containers/storage/pkg/idtools"
)

// ApplyDiff writes an uncompressed layer tar into the layer (the engine reads it from a file
// descriptor: the caller's file itself, or a pipe fed from the reader).
func (d *Driver) ApplyDiff(id, parent string, options graphdriver.ApplyDiffOpts) (int64, error) {
	if options.Mappings != nil && !options.Mappings.Empty() {
		return 0, fmt.Errorf("%s: layer %s: ID-mapped layers (user namespaces) are not supported: %w", Name, id, graphdriver.ErrNotSupported)
	}
	mask := C.int32_t(-1)
	if options.ForceMask != nil {
		mask = C.int32_t(options.ForceMask.Perm())
	}
	cID := cString(id)
	defer free(cID)
	var size C.int64_t
	var cErr *C.char
	err := withReadFD(options.Diff, func(fd uintptr) error {
		return check(C.kbd_apply_diff(d.handle, cID, C.int32_t(fd), cBool(options.IgnoreChownErrors), mask, &size, &cErr), cErr,
			"applying a layer to "+id)
	})
	return int64(size), err
}

// Diff streams the layer's changes against parent ("" : an empty tree) as an OCI layer tar.
func (d *Driver) Diff(id string, idMappings *idtools.IDMappings, parent string, parentIDMappings *idtools.IDMappings,
	mountLabel string) (io.ReadCloser, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	done := make(chan error, 1)
	go func() {
		cID, cParent := cString(id), cString(parent)
		defer free(cID, cParent)
		var size C.int64_t
		var cErr *C.char
		err := check(C.kbd_diff(d.handle, cID, cParent, C.int32_t(w.Fd()), &size, &cErr), cErr, "exporting layer "+id)
		w.Close()
		done <- err
	}()
	return &diffReader{file: r, done: done}, nil
}

// Changes lists what the layer changed against parent ("": an empty tree).
func (d *Driver) Changes(id string, idMappings *idtools.IDMappings, parent string, parentIDMappings *idtools.IDMappings,
	mountLabel string) ([]archive.Change, error) {
	cID, cParent := cString(id), cString(parent)
	defer free(cID, cParent)
	var buffer, cErr *C.char
	var length C.size_t
	if status := C.kbd_changes(d.handle, cID, cParent, &buffer, &length, &cErr); status != C.KBD_OK {
		return nil, failure(status, cErr, "comparing layer "+id)
	}
	kinds := map[string]archive.ChangeType{"A": archive.ChangeAdd, "C": archive.ChangeModify, "D": archive.ChangeDelete}
	changes := []archive.Change{}
	for _, pair := range pairs(cList(buffer, length)) {
		changes = append(changes, archive.Change{Kind: kinds[pair[0]], Path: pair[1]})
	}
	return changes, nil
}

// DiffSize is the bytes of file data Diff would write.
func (d *Driver) DiffSize(id string, idMappings *idtools.IDMappings, parent string, parentIDMappings *idtools.IDMappings,
	mountLabel string) (int64, error) {
	cID, cParent := cString(id), cString(parent)
	defer free(cID, cParent)
	var size C.int64_t
	var cErr *C.char
	err := check(C.kbd_diff_size(d.handle, cID, cParent, &size, &cErr), cErr, "measuring layer "+id)
	return int64(size), err
}

// withReadFD runs body with a file descriptor reading what source yields: the descriptor of
// source itself when it is a file, else a pipe fed from it.
func withReadFD(source io.Reader, body func(uintptr) error) error {
	if file, ok := source.(*os.File); ok {
		return body(file.Fd())
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("%s: %w", Name, err)
	}
	fed := make(chan error, 1)
	go func() {
		_, err := io.Copy(w, source)
		w.Close()
		fed <- err
	}()
	err = body(r.Fd())
	r.Close() // a writer still feeding gets EPIPE and stops
	if copyErr := <-fed; err == nil && copyErr != nil {
		err = fmt.Errorf("%s: reading the layer: %w", Name, copyErr)
	}
	return err
}

// diffReader reads an export; its end reports the export's outcome.
type diffReader struct {
	file *os.File
	done chan error
	err  error
	over bool
}

func (r *diffReader) Read(p []byte) (int, error) {
	n, err := r.file.Read(p)
	if err == io.EOF {
		r.finish()
		if r.err != nil {
			return n, r.err
		}
	}
	return n, err
}

// Close drains what the export still writes (so it never writes into a closed pipe) and reports its outcome.
func (r *diffReader) Close() error {
	_, _ = io.Copy(io.Discard, r.file)
	r.finish()
	r.file.Close()
	return r.err
}

func (r *diffReader) finish() {
	if !r.over {
		r.err = <-r.done
		r.over = true
	}
}
