package registry

// The read callback behind ImportBundleStream: the C library pulls the stream's bytes through
// drGoRead, which reaches the io.Reader through a cgo.Handle (never a Go pointer) and keeps
// what went wrong for the caller: the reader's error, a context's end, or a panic.

/*
#include <stddef.h>
#include <stdint.h>
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/cgo"
	"unsafe"
)

// maxEmptyReads is how many (0, nil) results of Read in a row are taken as a stuck reader
// (io.ErrNoProgress), as the standard library's readers do.
const maxEmptyReads = 100

// streamState is what the read callback reaches through its handle.
type streamState struct {
	ctx context.Context
	r   io.Reader
	// delivered counts the bytes handed to the library.
	delivered uint64
	// pending is an error Read returned together with data: reported at the next read.
	pending error
	// failed is the reader's error (or the context's) that stopped the import.
	failed error
	// panicked holds a panic of Read, re-raised in the caller's goroutine after the call.
	panicked any
}

// newStream returns the handle of r's state and the function that releases it.
func newStream(ctx context.Context, r io.Reader) (C.uintptr_t, *streamState, func()) {
	if ctx == nil {
		ctx = context.Background()
	}
	st := &streamState{ctx: ctx, r: r}
	h := cgo.NewHandle(st)
	return C.uintptr_t(h), st, h.Delete
}

// finish re-raises a panic of the reader and turns a failure of the stream into the error the
// caller sees: the library only knows that the callback failed, the state knows why.
func (st *streamState) finish(name string, err error) error {
	if st.panicked != nil {
		panic(st.panicked)
	}
	if err == nil || st.failed == nil {
		return err
	}
	stream := "the stream"
	if name != "" {
		stream = fmt.Sprintf("stream %q", name)
	}
	if ctxErr := st.ctx.Err(); ctxErr != nil && errors.Is(st.failed, ctxErr) {
		return &Error{Status: StatusCancelled, Message: fmt.Sprintf("context ended while reading %s after %d bytes; nothing was imported", stream, st.delivered), cause: ctxErr}
	}
	return &Error{Status: StatusIO, Message: fmt.Sprintf("reading %s: %v (after %d bytes); nothing was imported", stream, st.failed, st.delivered), cause: st.failed}
}

// read fills buf from the reader: the bytes it got (0 only at the end of the stream), or
// false when the import must stop (st.failed says why).
func (st *streamState) read(buf []byte) (int, bool) {
	if err := st.ctx.Err(); err != nil {
		st.failed = err
		return 0, false
	}
	if err := st.pending; err != nil {
		st.pending = nil
		if err == io.EOF {
			return 0, true
		}
		st.failed = err
		return 0, false
	}
	for range maxEmptyReads {
		n, err := st.r.Read(buf)
		if n > 0 {
			st.delivered += uint64(n)
			st.pending = err
			return n, true
		}
		if err == io.EOF {
			return 0, true
		}
		if err != nil {
			st.failed = err
			return 0, false
		}
	}
	st.failed = io.ErrNoProgress
	return 0, false
}

//export drGoRead
func drGoRead(buf *C.uint8_t, n C.size_t, outN *C.size_t, handle C.uintptr_t) (code C.int) {
	st := cgo.Handle(handle).Value().(*streamState)
	defer func() {
		// A panic must not unwind through Rust frames: record it and fail the read.
		if r := recover(); r != nil {
			st.panicked = r
			code = 1
		}
	}()
	got, ok := st.read(unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(n)))
	if !ok {
		return 1
	}
	*outN = C.size_t(got)
	return 0
}
