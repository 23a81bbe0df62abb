package web

import (
	"net/http"
	"testing"

	"github.com/shopbus/shopbus/fault"
)

// TestStatusOfAnUnknownCode: a code missing from the table answers 500,
// never a status of 0 (which would make the error handler panic).
func TestStatusOfAnUnknownCode(t *testing.T) {
	if got := StatusOf(fault.New(fault.Code("made-up"), "x")); got != http.StatusInternalServerError {
		t.Errorf("StatusOf(an unknown code) = %d, want 500", got)
	}
}
