package pattern

import (
	"bytes"
	"strconv"
)

// wildcard is a compiled wildcard pattern: literal segments separated by
// "*", each of which matches any run of characters, including none.
type wildcard struct {
	segs  []string // len(segs) == number of stars + 1
	bsegs [][]byte // segs as bytes, for bytes.Index without converting
}

// compileWildcard unescapes \* and \\ and refuses what EventBridge refuses:
// consecutive stars and a backslash before anything else.
func compileWildcard(s string) (wildcard, error) {
	var w wildcard
	var cur []byte
	prevStar := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '*':
			if prevStar {
				return wildcard{}, refuse(wildcardPos("Consecutive wildcard characters", i-1),
					"wildcard must not contain consecutive '*' characters")
			}
			w.segs = append(w.segs, string(cur))
			cur, prevStar = cur[:0], true
			continue
		case '\\':
			if i+1 >= len(s) || (s[i+1] != '*' && s[i+1] != '\\') {
				return wildcard{}, refuse(wildcardPos("Invalid escape character", i),
					`wildcard may only escape '*' and '\'`)
			}
			i++
			cur = append(cur, s[i])
		default:
			cur = append(cur, c)
		}
		prevStar = false
	}
	w.segs = append(w.segs, string(cur))
	for _, seg := range w.segs {
		w.bsegs = append(w.bsegs, []byte(seg))
	}
	return w, nil
}

// wildcardPos is event-ruler's message for a fault at byte i of the value:
// it counts from the opening quote it puts before the value.
func wildcardPos(msg string, i int) string {
	return msg + " at pos " + strconv.Itoa(i+1)
}

// match runs in O(len(b) * stars) at worst: with only "*" wildcards the
// leftmost occurrence of each middle segment is always a safe choice.
func (w *wildcard) match(b []byte) bool {
	segs := w.segs
	if len(segs) == 1 {
		return string(b) == segs[0]
	}
	first, last := segs[0], segs[len(segs)-1]
	if len(b) < len(first)+len(last) ||
		string(b[:len(first)]) != first || string(b[len(b)-len(last):]) != last {
		return false
	}
	mid := b[len(first) : len(b)-len(last)]
	for _, s := range w.bsegs[1 : len(segs)-1] {
		i := bytes.Index(mid, s)
		if i < 0 {
			return false
		}
		mid = mid[i+len(s):]
	}
	return true
}
