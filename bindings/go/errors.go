package registry

/*
#include "deckhouse_registry.h"
*/
import "C"

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Status is a status code of the C ABI (dr_status); the values are fixed.
type Status int

// The status codes, one per error kind of the core.
const (
	StatusOK                   Status = C.DR_STATUS_OK
	StatusInvalidArgument      Status = C.DR_STATUS_INVALID_ARGUMENT
	StatusPanic                Status = C.DR_STATUS_PANIC
	StatusCancelled            Status = C.DR_STATUS_CANCELLED
	StatusInvalidState         Status = C.DR_STATUS_INVALID_STATE
	StatusInvalidDocument      Status = C.DR_STATUS_INVALID_DOCUMENT
	StatusInvalidSettings      Status = C.DR_STATUS_INVALID_SETTINGS
	StatusInvalidFacts         Status = C.DR_STATUS_INVALID_FACTS
	StatusRenderMissingInput   Status = C.DR_STATUS_RENDER_MISSING_INPUT
	StatusRenderInvalidOptions Status = C.DR_STATUS_RENDER_INVALID_OPTIONS
	StatusRenderRefused        Status = C.DR_STATUS_RENDER_REFUSED
	StatusTransitionRefused    Status = C.DR_STATUS_TRANSITION_REFUSED
	StatusApplyRefused         Status = C.DR_STATUS_APPLY_REFUSED
	StatusIO                   Status = C.DR_STATUS_IO
	StatusNotFound             Status = C.DR_STATUS_NOT_FOUND
	StatusAlreadyExists        Status = C.DR_STATUS_ALREADY_EXISTS
	StatusDigestMismatch       Status = C.DR_STATUS_DIGEST_MISMATCH
	StatusInvalidDigest        Status = C.DR_STATUS_INVALID_DIGEST
	StatusInvalidTag           Status = C.DR_STATUS_INVALID_TAG
	StatusQuotaExceeded        Status = C.DR_STATUS_QUOTA_EXCEEDED
	StatusNoSpace              Status = C.DR_STATUS_NO_SPACE
	StatusCorrupt              Status = C.DR_STATUS_CORRUPT
	StatusInvalidLayout        Status = C.DR_STATUS_INVALID_LAYOUT
	StatusInvalidManifest      Status = C.DR_STATUS_INVALID_MANIFEST
	StatusImportRefused        Status = C.DR_STATUS_IMPORT_REFUSED
	StatusInvalidUpload        Status = C.DR_STATUS_INVALID_UPLOAD
	StatusLocked               Status = C.DR_STATUS_LOCKED
	StatusInvalidRepository    Status = C.DR_STATUS_INVALID_REPOSITORY
	StatusPkiFailed            Status = C.DR_STATUS_PKI_FAILED
)

// String is the status's stable name ("NotFound").
func (s Status) String() string {
	return C.GoString(C.dr_status_name(C.int32_t(s)))
}

// Sentinel errors, one per status; match with errors.Is.
var (
	ErrInvalidArgument      = errors.New("invalid argument")
	ErrPanic                = errors.New("internal error in the library")
	ErrCancelled            = errors.New("operation cancelled")
	ErrInvalidState         = errors.New("handle in a state that does not allow the call")
	ErrInvalidDocument      = errors.New("unusable input document")
	ErrInvalidSettings      = errors.New("invalid registry settings")
	ErrInvalidFacts         = errors.New("invalid cluster facts")
	ErrRenderMissingInput   = errors.New("input lacks what rendering needs")
	ErrRenderInvalidOptions = errors.New("contradictory render options")
	ErrRenderRefused        = errors.New("dialect cannot express the configuration")
	ErrTransitionRefused    = errors.New("switch refused")
	ErrApplyRefused         = errors.New("rendered files refused by apply")
	ErrIO                   = errors.New("I/O error")
	ErrNotFound             = errors.New("not found")
	ErrAlreadyExists        = errors.New("already exists")
	ErrDigestMismatch       = errors.New("digest mismatch")
	ErrInvalidDigest        = errors.New("invalid digest")
	ErrInvalidTag           = errors.New("invalid tag")
	ErrQuotaExceeded        = errors.New("quota exceeded")
	ErrNoSpace              = errors.New("no space left on device")
	ErrCorrupt              = errors.New("corrupt blob")
	ErrInvalidLayout        = errors.New("invalid OCI image layout")
	ErrInvalidManifest      = errors.New("invalid manifest")
	ErrImportRefused        = errors.New("import refused")
	ErrInvalidUpload        = errors.New("invalid upload")
	ErrLocked               = errors.New("locked by another writer")
	ErrInvalidRepository    = errors.New("invalid repository name")
	ErrPkiFailed            = errors.New("certificate or key could not be built")
	// ErrClosed is returned by methods of a Store, Writer or BlobReader after Close.
	ErrClosed = errors.New("deckhouse-registry: handle already closed")
)

var sentinels = map[Status]error{
	StatusInvalidArgument:      ErrInvalidArgument,
	StatusPanic:                ErrPanic,
	StatusCancelled:            ErrCancelled,
	StatusInvalidState:         ErrInvalidState,
	StatusInvalidDocument:      ErrInvalidDocument,
	StatusInvalidSettings:      ErrInvalidSettings,
	StatusInvalidFacts:         ErrInvalidFacts,
	StatusRenderMissingInput:   ErrRenderMissingInput,
	StatusRenderInvalidOptions: ErrRenderInvalidOptions,
	StatusRenderRefused:        ErrRenderRefused,
	StatusTransitionRefused:    ErrTransitionRefused,
	StatusApplyRefused:         ErrApplyRefused,
	StatusIO:                   ErrIO,
	StatusNotFound:             ErrNotFound,
	StatusAlreadyExists:        ErrAlreadyExists,
	StatusDigestMismatch:       ErrDigestMismatch,
	StatusInvalidDigest:        ErrInvalidDigest,
	StatusInvalidTag:           ErrInvalidTag,
	StatusQuotaExceeded:        ErrQuotaExceeded,
	StatusNoSpace:              ErrNoSpace,
	StatusCorrupt:              ErrCorrupt,
	StatusInvalidLayout:        ErrInvalidLayout,
	StatusInvalidManifest:      ErrInvalidManifest,
	StatusImportRefused:        ErrImportRefused,
	StatusInvalidUpload:        ErrInvalidUpload,
	StatusLocked:               ErrLocked,
	StatusInvalidRepository:    ErrInvalidRepository,
	StatusPkiFailed:            ErrPkiFailed,
}

// Error is an error reported by the library: its status and message (messages never hold
// secret values).
type Error struct {
	Status  Status
	Message string
	// cause is set when a context ended the operation (context.Canceled or DeadlineExceeded)
	// or a progress callback panicked.
	cause error
}

func (e *Error) Error() string {
	return fmt.Sprintf("deckhouse-registry: %s: %s", e.Status, e.Message)
}

// Unwrap returns the status's sentinel error and, for a cancelled operation, the context's error.
func (e *Error) Unwrap() []error {
	errs := []error{}
	if s, ok := sentinels[e.Status]; ok {
		errs = append(errs, s)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// Problem is one thing wrong with registry settings.
type Problem struct {
	// Path is the field's dotted JSON path, e.g. spec.settings.registry.proxy.ttl.
	Path string `json:"path"`
	// Code is the stable kind of the problem, e.g. TtlTooShort.
	Code string `json:"code"`
	// Message says what is wrong, for people.
	Message string `json:"message"`
}

// ValidationError reports settings that break the rules, with every problem found.
// errors.Is(err, ErrInvalidSettings) holds for it.
type ValidationError struct {
	// Message is the library's summary of the problems.
	Message string
	// Problems lists every problem, in input order.
	Problems []Problem
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "deckhouse-registry: %d problem(s) in the registry settings", len(e.Problems))
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "; %s: %s [%s]", p.Path, p.Message, p.Code)
	}
	return b.String()
}

// Unwrap returns ErrInvalidSettings.
func (e *ValidationError) Unwrap() error { return ErrInvalidSettings }

// takeError turns a status and an error object (freed here) into a Go error.
func takeError(status C.dr_status, cerr *C.dr_error) error {
	if status == C.DR_STATUS_OK {
		if cerr != nil {
			C.dr_error_free(cerr)
		}
		return nil
	}
	e := Error{Status: Status(status)}
	var problems []Problem
	if cerr != nil {
		e.Message = C.GoString(C.dr_error_message(cerr))
		if p := C.dr_error_problems_json(cerr); p != nil {
			_ = json.Unmarshal([]byte(C.GoString(p)), &problems)
		}
		C.dr_error_free(cerr)
	}
	if e.Status == StatusInvalidSettings {
		return &ValidationError{Message: e.Message, Problems: problems}
	}
	return &e
}
