// Package registry is the Go API of deckhouse-registry: the Deckhouse registry module's settings
// validation, switch rules, containerd configuration rendering and content-addressed blob store,
// running the same Rust code as every other consumer through its C ABI
// (include/deckhouse_registry.h in this module, an identical copy of
// bindings/c/include/deckhouse_registry.h).
//
// # Linking
//
// The package links the static library libdeckhouse_registry.a. Inside the repository it is
// found in target/release (what `cargo build --release -p deckhouse-registry-c` produces); a
// program that gets this module with `go get` names the library's folder with
// CGO_LDFLAGS="-L/path/to/dir". See README.md.
//
// # Errors
//
// Every error returned is an *Error whose status maps to one sentinel (ErrNotFound,
// ErrInvalidSettings, ...) usable with errors.Is; invalid settings come as *ValidationError with
// every problem.
package registry

/*
#cgo CFLAGS: -I${SRCDIR}/include
#cgo LDFLAGS: -L${SRCDIR}/../../target/release -l:libdeckhouse_registry.a -lgcc_s -lutil -lrt -lpthread -lm -ldl
#include <stdlib.h>
#include "deckhouse_registry.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// ABIVersion is the ABI version of the header the package was compiled with
// (MAJOR*10000 + MINOR*100 + PATCH).
const ABIVersion = int(C.DR_ABI_VERSION)

func init() {
	if got := int(C.dr_abi_version()); got != ABIVersion {
		panic(fmt.Sprintf("deckhouse-registry: libdeckhouse_registry.a has ABI version %d, the header %d; rebuild the library", got, ABIVersion))
	}
}

// Version is the version of the linked library (the workspace version in Cargo.toml).
func Version() string {
	return C.GoString(C.dr_version())
}

// cstr converts s to a C string the caller frees with C.free; NUL bytes make it invalid input.
func cstr(s string) (*C.char, error) {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return nil, &Error{Status: StatusInvalidArgument, Message: "string argument contains a NUL byte"}
		}
	}
	return C.CString(s), nil
}

// cstrs converts several strings; the returned function frees them all.
func cstrs(ss ...string) ([]*C.char, func(), error) {
	out := make([]*C.char, len(ss))
	free := func() {
		for _, p := range out {
			if p != nil {
				C.free(unsafe.Pointer(p))
			}
		}
	}
	for i, s := range ss {
		p, err := cstr(s)
		if err != nil {
			free()
			return nil, nil, err
		}
		out[i] = p
	}
	return out, free, nil
}

// optCstr is cstr with "" meaning NULL.
func optCstr(s string) (*C.char, error) {
	if s == "" {
		return nil, nil
	}
	return cstr(s)
}

func freeC(p *C.char) {
	if p != nil {
		C.free(unsafe.Pointer(p))
	}
}

// takeString copies a library-owned string and frees it.
func takeString(p *C.char) string {
	if p == nil {
		return ""
	}
	s := C.GoString(p)
	C.dr_string_free(p)
	return s
}

// bytesPtr points at the first byte of b (nil for an empty slice). The memory is Go's and is
// only read during the call, which the cgo pointer rules allow.
func bytesPtr(b []byte) *C.uint8_t {
	if len(b) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(&b[0]))
}

// takeBytes copies a library-owned buffer and frees it.
func takeBytes(p *C.uint8_t, n C.size_t) []byte {
	if p == nil {
		return []byte{}
	}
	b := make([]byte, int(n))
	copy(b, unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n)))
	C.dr_bytes_free(p, n)
	return b
}
