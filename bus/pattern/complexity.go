package pattern

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
)

// EventBridge refuses a rule whose wildcards make its matching machine too
// nondeterministic. It measures this with event-ruler's
// MachineComplexityEvaluator: the most wildcard-pattern prefixes that one
// worst-case value can leave alive at once in any one field's byte
// machine. maxComplexity is the largest limit consistent with what AWS
// recorded: it refuses "*:*:*:*:*:event-bus/*" (complexity 11) and accepts
// "/Users/*/dir/dir/dir/dir/dir/doc.txt" (7); event-ruler's README gives
// 10 as its example of a per-rule limit.
const maxComplexity = 10

// reasonTooComplex is EventBridge's words for a rule over the limit.
const reasonTooComplex = "Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a wildcard character"

// maxSubRules bounds the $or expansion the evaluation walks; a pattern
// with more combinations is measured per field path instead, which can
// only overestimate.
const maxSubRules = 1024

// checkComplexity refuses a pattern whose wildcard complexity exceeds
// EventBridge's limit.
func checkComplexity(root *node, paths [][]string) error {
	if !hasWildcard(root) {
		return nil
	}
	if patternComplexity(root, paths, maxComplexity) > maxComplexity {
		return &PatternError{Msg: "wildcards too complex: use fewer '*' or fewer repeated characters after a '*'", Reason: reasonTooComplex}
	}
	return nil
}

func hasWildcard(n *node) bool {
	for _, l := range n.leaves {
		for i := range l.ops {
			if len(l.ops[i].wilds) > 0 {
				return true
			}
		}
	}
	for _, alts := range n.ors {
		for _, alt := range alts {
			if hasWildcard(alt) {
				return true
			}
		}
	}
	return false
}

// subRule is one $or-free combination of a pattern's leaves, by field.
type subRule map[int]*leaf

// expand lists n's $or-free combinations, as event-ruler compiles a rule
// into sub-rules; ok is false past maxSubRules.
func expand(n *node, base subRule) ([]subRule, bool) {
	r := make(subRule, len(base)+len(n.leaves))
	for f, l := range base {
		r[f] = l
	}
	for _, l := range n.leaves {
		r[l.field] = l
	}
	out := []subRule{r}
	for _, alts := range n.ors {
		var next []subRule
		for _, partial := range out {
			for _, alt := range alts {
				subs, ok := expand(alt, partial)
				if !ok || len(next)+len(subs) > maxSubRules {
					return nil, false
				}
				next = append(next, subs...)
			}
		}
		out = next
	}
	return out, true
}

// nameState and fieldMachine mirror event-ruler's NameState and the
// ByteMachine it keeps per field: sub-rules that agree on the values of
// earlier fields (in sorted field order) share the machines of later ones.
type nameState struct {
	fields map[int]*fieldMachine
}

type fieldMachine struct {
	terms []wildTerm
	ids   map[string]bool
	next  map[string]*nameState // by value identity
	value []*nameState          // reached through a value (not exists:false)
}

// wildTerm is one wildcard pattern of a machine: one path for wildcard, one
// per value for anything-but wildcard, all weighing as one pattern.
type wildTerm [][]int16

// patternComplexity is the largest complexity of any of the pattern's
// byte machines, or the first found above limit.
func patternComplexity(root *node, paths [][]string, limit int) int {
	subs, ok := expand(root, nil)
	if !ok {
		subs = []subRule{flatten(root, subRule{})}
	}
	start := &nameState{}
	for _, r := range subs {
		fields := make([]int, 0, len(r))
		for f := range r {
			fields = append(fields, f)
		}
		sort.Slice(fields, func(i, j int) bool {
			return strings.Join(paths[fields[i]], ".") < strings.Join(paths[fields[j]], ".")
		})
		states := []*nameState{start}
		for _, f := range fields {
			var next []*nameState
			for _, st := range states {
				next = append(next, st.add(f, r[f])...)
			}
			states = next
		}
	}
	worst, seen := 0, map[*nameState]bool{}
	var walk func(*nameState) bool
	walk = func(st *nameState) bool {
		if seen[st] {
			return false
		}
		seen[st] = true
		for _, m := range st.fields {
			worst = max(worst, machineComplexity(m.terms, true, limit))
			if worst > limit {
				return true
			}
			for _, n := range m.value {
				if walk(n) {
					return true
				}
			}
		}
		return false
	}
	walk(start)
	return worst
}

// flatten puts every leaf of n, whatever $or it sits in, into r: the
// over-estimate used when the expansion is too large.
func flatten(n *node, r subRule) subRule {
	for _, l := range n.leaves {
		if old := r[l.field]; old != nil {
			l = &leaf{field: l.field, ops: append(append([]op(nil), old.ops...), l.ops...)}
		}
		r[l.field] = l
	}
	for _, alts := range n.ors {
		for _, alt := range alts {
			flatten(alt, r)
		}
	}
	return r
}

// add puts leaf l's values into st's machine for field f and returns the
// name states they lead to. As in event-ruler, values of one leaf share
// one next state unless a value already had one.
func (st *nameState) add(f int, l *leaf) []*nameState {
	if st.fields == nil {
		st.fields = map[int]*fieldMachine{}
	}
	m := st.fields[f]
	if m == nil {
		m = &fieldMachine{ids: map[string]bool{}, next: map[string]*nameState{}}
		st.fields[f] = m
	}
	var last *nameState
	var out []*nameState
	for i := range l.ops {
		o := &l.ops[i]
		id := o.identity()
		if len(o.wilds) > 0 && !m.ids[id] {
			m.ids[id] = true
			t := make(wildTerm, len(o.wilds))
			for j := range o.wilds {
				t[j] = o.wilds[j].tokens()
			}
			m.terms = append(m.terms, t)
		}
		if n := m.next[id]; n != nil {
			last = n
		} else {
			if last == nil {
				last = &nameState{}
			}
			m.next[id] = last
			if o.kind != opExists || o.exists {
				m.value = append(m.value, last)
			}
		}
		out = append(out, last)
	}
	return out
}

// identity tells values apart the way event-ruler's machines do.
func (o *op) identity() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d|%q|%q|%v|%v|%v|%v|%v|%v|%v", o.kind, o.s, o.list, o.nums, o.lo, o.hi, o.loIncl, o.hiIncl, o.cidr, o.exists)
	return b.String()
}

// star marks a wildcard in a token list; other tokens are bytes.
const star = -1

// tokens are the bytes of w with its stars, as event-ruler's byte machine
// sees them.
func (w *wildcard) tokens() []int16 {
	var t []int16
	for i, seg := range w.segs {
		if i > 0 {
			t = append(t, star)
		}
		for j := 0; j < len(seg); j++ {
			t = append(t, int16(seg[j]))
		}
	}
	return t
}

// cstate is a state of the nondeterministic byte machine complexity is
// measured on.
type cstate struct {
	lit     map[int16][]int32
	any     []int32 // states reached on any byte; a wildcard state lists itself
	weight  []int32 // the wildcard patterns whose paths pass here
	det     map[int16]int32
	detStar int32
}

// machineComplexity returns event-ruler's complexity of a byte machine
// holding these wildcard patterns, stopping once it exceeds limit.
// quoted adds the quotes event-ruler puts around every string value.
// Prefixes before a pattern's first '*' are shared between patterns, as
// are those first wildcard states; what follows a '*' is each pattern's own.
func machineComplexity(terms []wildTerm, quoted bool, limit int) int {
	states := []cstate{{}}
	alphabet := map[int16]bool{}
	matches := map[int32]int32{}
	newState := func() int32 {
		states = append(states, cstate{})
		return int32(len(states) - 1)
	}
	for id, term := range terms {
		for _, path := range term {
			if quoted {
				path = append(append([]int16{'"'}, path...), '"')
			}
			cur, prev, det := int32(0), int32(-1), true
			for i, tok := range path {
				terminal := i == len(path)-1
				var next int32
				created := false
				switch {
				case terminal:
					if next = matches[int32(id)]; next == 0 {
						next, created = newState(), true
						matches[int32(id)] = next
					}
				case det && tok == star && states[cur].detStar != 0:
					next = states[cur].detStar
				case det && tok != star && states[cur].det[tok] != 0:
					next = states[cur].det[tok]
				default:
					next, created = newState(), true
					switch {
					case det && tok == star:
						states[cur].detStar = next
					case det:
						if states[cur].det == nil {
							states[cur].det = map[int16]int32{}
						}
						states[cur].det[tok] = next
					}
				}
				if tok == star {
					states[next].any = addState(states[next].any, next)
					states[cur].any = addState(states[cur].any, next)
					det = false
				} else if created || terminal {
					alphabet[tok] = true
					states[cur].addLit(tok, next)
					if i > 0 && path[i-1] == star {
						states[prev].addLit(tok, next)
					}
				}
				if w := states[next].weight; len(w) == 0 || w[len(w)-1] != int32(id) {
					states[next].weight = append(w, int32(id))
				}
				prev, cur = cur, next
			}
		}
	}
	if len(states) == 1 {
		return 0
	}
	bytes := []int16{256} // stands for every byte no pattern names
	for b := range alphabet {
		bytes = append(bytes, b)
	}
	worst, seen := 0, map[string]bool{}
	pending := [][]int32{{0}}
	for len(pending) > 0 {
		active := pending[len(pending)-1]
		pending = pending[:len(pending)-1]
		for _, b := range bytes {
			set := map[int32]bool{}
			for _, s := range active {
				for _, n := range states[s].any {
					set[n] = true
				}
				for _, n := range states[s].lit[b] {
					set[n] = true
				}
			}
			if len(set) == 0 {
				continue
			}
			next, c := make([]int32, 0, len(set)), 0
			for s := range set {
				next = append(next, s)
				c += len(states[s].weight)
				for _, w := range states[s].any {
					if !set[w] {
						c += len(states[w].weight)
					}
				}
			}
			if c > limit {
				return c
			}
			worst = max(worst, c)
			sort.Slice(next, func(i, j int) bool { return next[i] < next[j] })
			key := make([]byte, 4*len(next))
			for i, s := range next {
				binary.LittleEndian.PutUint32(key[4*i:], uint32(s))
			}
			if !seen[string(key)] {
				seen[string(key)] = true
				if len(seen) > 1<<16 {
					return limit + 1 // too many states to even measure
				}
				pending = append(pending, next)
			}
		}
	}
	return worst
}

func (s *cstate) addLit(tok int16, next int32) {
	if s.lit == nil {
		s.lit = map[int16][]int32{}
	}
	s.lit[tok] = addState(s.lit[tok], next)
}

func addState(list []int32, s int32) []int32 {
	for _, n := range list {
		if n == s {
			return list
		}
	}
	return append(list, s)
}
