package fault_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/shopbus/shopbus/fault"
)

var errGone = fault.New(fault.NotFound, "thing: not found")

func TestCodeOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want fault.Code
	}{
		{"nil", nil, ""},
		{"uncoded", errors.New("disk on fire"), fault.Internal},
		{"sentinel", errGone, fault.NotFound},
		{"wrapped sentinel", fmt.Errorf("get %s: %w", "x", errGone), fault.NotFound},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), fault.Unavailable},
		{"outermost wins", fault.Errorf(fault.Invalid, "bad input: %w", errGone), fault.Invalid},
		{"wrap", fault.Wrap(fault.Conflict, errors.New("taken")), fault.Conflict},
		{"joined", errors.Join(errors.New("plain"), errGone), fault.NotFound},
		{"fields", fault.InvalidFields(fault.Field{Field: "a", Message: "is required"}), fault.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fault.CodeOf(tt.err); got != tt.want {
				t.Errorf("CodeOf(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestErrorfKeepsTheChain(t *testing.T) {
	err := fault.Errorf(fault.Invalid, "replay: %w", errGone)
	if !errors.Is(err, errGone) {
		t.Error("errors.Is lost the wrapped sentinel")
	}
	if err.Error() != "replay: thing: not found" {
		t.Errorf("message %q", err.Error())
	}
	if fault.Wrap(fault.Invalid, nil) != nil {
		t.Error("Wrap(nil) is not nil")
	}
}

func TestFields(t *testing.T) {
	err := fmt.Errorf("place: %w", fault.InvalidFields(fault.Field{Field: "currency", Message: "is not ISO 4217"},
		fault.Field{Field: "items", Message: "is empty"}))
	if got := fault.FieldsOf(err); len(got) != 2 || got[1].Field != "items" {
		t.Errorf("FieldsOf = %+v", got)
	}
	if err.Error() != "place: invalid: currency: is not ISO 4217; items: is empty" {
		t.Errorf("message %q", err.Error())
	}
	if fault.FieldsOf(errGone) != nil {
		t.Error("a sentinel has fields")
	}
}
