// Package fault is shopbus's one error vocabulary: a handful of codes that
// every package returns and that the edges map once, to an HTTP status in
// web and to an exit status in the command line. A package returns an
// error carrying a code (or its own sentinel made with New, which carries
// one); callers ask for the code with CodeOf, never match other packages'
// sentinels.
package fault

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Code says what kind of failure an error is, in terms a caller can act on.
type Code string

// The codes. Anything that carries none is Internal.
const (
	// Invalid: what the caller gave is wrong; sending it again fails again.
	Invalid Code = "invalid"
	// NotFound: the thing named does not exist.
	NotFound Code = "not_found"
	// Conflict: the request is well formed but the current state forbids it.
	Conflict Code = "conflict"
	// Unauthorized: no valid credentials.
	Unauthorized Code = "unauthorized"
	// Forbidden: valid credentials that lack the right.
	Forbidden Code = "forbidden"
	// Unavailable: not now; the same request may succeed later.
	Unavailable Code = "unavailable"
	// Internal: a failure of shopbus's own, whose details are for the log.
	Internal Code = "internal"
)

// Field is one invalid field of a request, named by its path.
type Field struct {
	Field   string
	Message string
}

// Error is an error with a code. Its message is meant for the caller: a
// client or an operator may read it.
type Error struct {
	Code    Code
	Message string
	// Fields lists every invalid field of an Invalid request, so a client
	// fixes them all at once.
	Fields []Field
	err    error
}

func (e *Error) Error() string {
	switch {
	case e.Message != "":
		return e.Message
	case len(e.Fields) > 0:
		parts := make([]string, len(e.Fields))
		for i, f := range e.Fields {
			parts[i] = f.Field + ": " + f.Message
		}
		return "invalid: " + strings.Join(parts, "; ")
	}
	return string(e.Code)
}

// Unwrap returns the error Errorf wrapped with %w, if any.
func (e *Error) Unwrap() error { return e.err }

// New returns an error with a code and a message; as a package's sentinel
// it keeps its code through fmt.Errorf("...: %w", sentinel).
func New(code Code, message string) *Error { return &Error{Code: code, Message: message} }

// Errorf formats a message, as fmt.Errorf does (%w included), under a code.
func Errorf(code Code, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: code, Message: err.Error(), err: err}
}

// Wrap gives err a code, keeping its message; nil stays nil.
func Wrap(code Code, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Message: err.Error(), err: err}
}

// InvalidFields returns an Invalid error listing every invalid field.
func InvalidFields(fields ...Field) error {
	return &Error{Code: Invalid, Fields: fields}
}

// CodeOf returns the code of the outermost coded error in err's chain:
// "" for nil, Unavailable for a context whose deadline passed (the request
// was too slow: busy, try again), Internal for anything uncoded.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Unavailable
	}
	return Internal
}

// FieldsOf returns the invalid fields err lists, if any.
func FieldsOf(err error) []Field {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Fields
	}
	return nil
}

// Is reports whether err carries code.
func Is(err error, code Code) bool { return CodeOf(err) == code }
