package pattern

import (
	"unicode/utf8"

	"github.com/shopbus/shopbus/fault"
)

// ErrInvalidPattern is wrapped by every error that Compile returns.
var ErrInvalidPattern = fault.New(fault.Invalid, "invalid event pattern")

// ErrInvalidEvent is wrapped by the error returned for an event that is not
// a well-formed JSON object.
var ErrInvalidEvent = fault.New(fault.Invalid, "invalid event")

// maxPatternLen is EventBridge's limit on the length of a pattern's JSON.
const maxPatternLen = 4096

// PatternError describes why a pattern was refused and where. It wraps
// ErrInvalidPattern.
type PatternError struct {
	// Path is the dotted field path of the offending value, empty for the
	// pattern as a whole.
	Path string
	// Msg says what is wrong.
	Msg string
	// Reason is EventBridge's own reason for refusing the same pattern,
	// what its InvalidEventPatternException says after "Reason: ", or ""
	// where AWS's words are not known.
	Reason string
}

// Error formats the error as "pattern: path: msg", followed by
// EventBridge's reason in its own words where that says something else,
// so a rule ported from AWS fails with the message AWS gave.
func (e *PatternError) Error() string {
	s := "pattern: " + e.Msg
	if e.Path != "" {
		s = "pattern: " + e.Path + ": " + e.Msg
	}
	if e.Reason != "" && e.Reason != e.Msg {
		s += " (EventBridge: " + e.Reason + ")"
	}
	return s
}

// Unwrap lets errors.Is find ErrInvalidPattern.
func (e *PatternError) Unwrap() error { return ErrInvalidPattern }

// Pattern is a compiled event pattern. It is immutable and safe for
// concurrent use.
type Pattern struct {
	src    string
	root   *node
	paths  [][]string // distinct leaf paths; leaf.field indexes this
	single *Matcher   // a Matcher over just this pattern, for Match
}

// Compile parses and validates an EventBridge event pattern (JSON text).
func Compile(src []byte) (*Pattern, error) {
	if utf8.RuneCount(src) > maxPatternLen {
		return nil, &PatternError{Msg: "longer than 4096 characters"}
	}
	c := &compiler{ids: map[string]int{}}
	root, err := c.compile(src)
	if err != nil {
		return nil, err
	}
	p := &Pattern{src: string(src), root: root, paths: c.paths}
	p.single = NewMatcher([]*Pattern{p})
	return p, nil
}

// Match reports whether the event (JSON text) matches. A malformed event is
// an error wrapping ErrInvalidEvent.
func (p *Pattern) Match(event []byte) (bool, error) {
	var buf [1]int
	got, err := p.single.Match(event, buf[:0])
	return len(got) == 1, err
}

// String returns the pattern's source JSON.
func (p *Pattern) String() string { return p.src }
