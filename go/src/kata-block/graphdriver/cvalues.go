package graphdriver

/*
#include <stdlib.h>
#include "kata_block_driver.h"
*/
import "C"

import (
	"fmt"
	"syscall"
	"unsafe"

	graphdriver "github.com/containers/storage/drivers"
	"github.com/containers/storage/types"
)

// driverError is the library's error, with the containers/storage errors and the errno it stands for.
type driverError struct {
	message string
	kinds   []error
	errno   syscall.Errno
}

func (e *driverError) Error() string { return e.message }

func (e *driverError) Is(target error) bool {
	for _, kind := range e.kinds {
		if target == kind {
			return true
		}
	}
	return e.errno != 0 && target == e.errno
}

func (e *driverError) Unwrap() error {
	if e.errno != 0 {
		return e.errno
	}
	return nil
}

// failure maps a library status to an error, in one place, and frees the library's message.
func failure(status C.int32_t, message *C.char, doing string) error {
	text := "unknown error"
	if message != nil {
		text = C.GoString(message)
		C.kbd_free(unsafe.Pointer(message))
	}
	e := &driverError{message: fmt.Sprintf("%s: %s: %s", Name, doing, text)}
	switch status {
	case C.KBD_ENOTFOUND:
		e.kinds = []error{graphdriver.ErrLayerUnknown, types.ErrLayerUnknown}
		e.errno = syscall.ENOENT
	case C.KBD_EEXISTS:
		e.kinds = []error{types.ErrDuplicateID}
		e.errno = syscall.EEXIST
	case C.KBD_EINVALID:
		e.errno = syscall.EINVAL
	case C.KBD_EBUSY:
		e.errno = syscall.EBUSY
	case C.KBD_ENOSPACE:
		e.errno = syscall.ENOSPC
	case C.KBD_EUNAVAILABLE:
		e.kinds = []error{graphdriver.ErrNotSupported}
		e.errno = syscall.EAGAIN
	}
	return e
}

func check(status C.int32_t, message *C.char, doing string) error {
	if status == C.KBD_OK {
		return nil
	}
	return failure(status, message, doing)
}

// cString is NULL for "", which the library reads as "none".
func cString(s string) *C.char {
	if s == "" {
		return nil
	}
	return C.CString(s)
}

func free(strings ...*C.char) {
	for _, s := range strings {
		if s != nil {
			C.free(unsafe.Pointer(s))
		}
	}
}

func cBool(b bool) C.int32_t {
	if b {
		return 1
	}
	return 0
}

// cList splits and frees a list the library returned.
func cList(buffer *C.char, length C.size_t) []string {
	if buffer == nil {
		return nil
	}
	defer C.kbd_free(unsafe.Pointer(buffer))
	bytes := C.GoBytes(unsafe.Pointer(buffer), C.int(length))
	var items []string
	start := 0
	for i, b := range bytes {
		if b == 0 {
			items = append(items, string(bytes[start:i]))
			start = i + 1
		}
	}
	return items
}

func pairs(items []string) [][2]string {
	var result [][2]string
	for i := 0; i+1 < len(items); i += 2 {
		result = append(result, [2]string{items[i], items[i+1]})
	}
	return result
}
