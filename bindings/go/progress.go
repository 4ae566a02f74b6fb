package registry

/*
#include <stdint.h>
*/
import "C"

import (
	"context"
	"encoding/json"
	"runtime/cgo"
)

// Progress is an event of a long store operation. Totals are nil when unknown.
type Progress struct {
	// Operation is "import", "export", "scrub" or "gc".
	Operation  string  `json:"operation"`
	BytesDone  uint64  `json:"bytesDone"`
	BytesTotal *uint64 `json:"bytesTotal"`
	ItemsDone  uint64  `json:"itemsDone"`
	ItemsTotal *uint64 `json:"itemsTotal"`
	Current    *string `json:"current"`
}

// ProgressFunc receives progress events; returning false cancels the operation (ErrCancelled).
type ProgressFunc func(Progress) bool

// progressState is what the C callback reaches through a cgo.Handle (never a Go pointer).
type progressState struct {
	ctx context.Context
	fn  ProgressFunc
	// panicked holds a panic of fn, re-raised in the caller's goroutine after the call.
	panicked any
}

// newProgress returns a handle for the callback (0 when nothing needs calling) and a function
// that releases it and turns a cancellation into the right error.
func newProgress(ctx context.Context, fn ProgressFunc) (C.uintptr_t, *progressState, func()) {
	if ctx == nil {
		ctx = context.Background()
	}
	st := &progressState{ctx: ctx, fn: fn}
	if ctx.Done() == nil && fn == nil {
		return 0, st, func() {}
	}
	h := cgo.NewHandle(st)
	return C.uintptr_t(h), st, h.Delete
}

// finish re-raises a panic of the callback in the caller's goroutine (the operation was
// stopped, and the store left unchanged, before that), and adds the context's error to a
// cancellation. A panic is a bug in the caller's code, not a cancellation: it propagates as a
// panic would from any other callback.
func (st *progressState) finish(err error) error {
	if st.panicked != nil {
		panic(st.panicked)
	}
	e, ok := err.(*Error)
	if !ok || e.Status != StatusCancelled {
		return err
	}
	if cerr := st.ctx.Err(); cerr != nil {
		e.cause = cerr
	}
	return e
}

//export drGoProgress
func drGoProgress(event *C.char, handle C.uintptr_t) (stop C.int) {
	st := cgo.Handle(handle).Value().(*progressState)
	defer func() {
		// A panic must not unwind through Rust frames: record it and cancel.
		if r := recover(); r != nil {
			st.panicked = r
			stop = 1
		}
	}()
	if st.ctx.Err() != nil {
		return 1
	}
	if st.fn != nil {
		var p Progress
		if err := json.Unmarshal([]byte(C.GoString(event)), &p); err == nil && !st.fn(p) {
			return 1
		}
	}
	return 0
}
