package pattern

import "sort"

// fieldIndex finds, for one field, the patterns whose chosen leaf on that
// field can hold for the event's values. Each pattern is indexed under at
// most one leaf; the set found is a superset of the patterns whose leaf
// holds, so candidates are still evaluated in full.
type fieldIndex struct {
	f      int32
	exact  map[string][]int32 // exact string -> patterns
	prefix map[string][]int32 // prefix -> patterns
	plens  []int              // distinct prefix lengths, ascending
	not    map[string][]int32 // anything-but string -> patterns listing it
	notAll []uint64           // bitset of patterns indexed by anything-but
}

// indexKind classifies a leaf by how it can be indexed.
type indexKind uint8

const (
	noIndex indexKind = iota
	exactIndex
	prefixIndex
	notIndex
)

func leafIndexKind(l *leaf) indexKind {
	if len(l.ops) == 1 && l.ops[0].kind == opNotExact {
		return notIndex
	}
	kind := noIndex
	for i := range l.ops {
		var k indexKind
		switch l.ops[i].kind {
		case opExact:
			k = exactIndex
		case opPrefix:
			k = prefixIndex
		default:
			return noIndex
		}
		if kind != noIndex && k != kind {
			return noIndex
		}
		kind = k
	}
	return kind
}

// buildIndex picks for each pattern the top-level indexable leaf that the
// fewest other patterns share, so few patterns are evaluated per event.
// anything-but counts half: it usually excludes the event's common value.
func (m *Matcher) buildIndex() {
	type key struct {
		f    int32
		kind indexKind
		s    string
	}
	freq := map[key]int{}
	keys := func(i int, l *leaf) []key {
		f, kind := m.fields[i][l.field], leafIndexKind(l)
		if kind == notIndex {
			return []key{{f, notIndex, ""}}
		}
		out := make([]key, 0, len(l.ops))
		for _, o := range l.ops {
			out = append(out, key{f, kind, o.s})
		}
		return out
	}
	for i, p := range m.pats {
		for _, l := range p.root.leaves {
			if leafIndexKind(l) != noIndex {
				for _, k := range keys(i, l) {
					freq[k]++
				}
			}
		}
	}
	byField := map[int32]*fieldIndex{}
	for i, p := range m.pats {
		var best *leaf
		bestCost := 0
		for _, l := range p.root.leaves {
			if leafIndexKind(l) == noIndex {
				continue
			}
			cost := 0
			for _, k := range keys(i, l) {
				cost += freq[k]
			}
			if leafIndexKind(l) == notIndex {
				cost /= 2
			}
			if best == nil || cost < bestCost {
				best, bestCost = l, cost
			}
		}
		if best == nil {
			m.always[i/64] |= 1 << (i % 64)
			continue
		}
		f := m.fields[i][best.field]
		fi := byField[f]
		if fi == nil {
			fi = &fieldIndex{f: f, exact: map[string][]int32{}, prefix: map[string][]int32{}, not: map[string][]int32{}}
			byField[f] = fi
			m.fidx = append(m.fidx, fi)
		}
		fi.add(int32(i), best, len(m.always))
	}
	for _, fi := range m.fidx {
		seen := map[int]bool{}
		for p := range fi.prefix {
			if !seen[len(p)] {
				seen[len(p)] = true
				fi.plens = append(fi.plens, len(p))
			}
		}
		sort.Ints(fi.plens)
	}
	sort.Slice(m.fidx, func(a, b int) bool { return m.fidx[a].f < m.fidx[b].f })
}

func (fi *fieldIndex) add(id int32, l *leaf, words int) {
	appendOnce := func(m map[string][]int32, s string) {
		if ids := m[s]; len(ids) == 0 || ids[len(ids)-1] != id {
			m[s] = append(ids, id)
		}
	}
	switch leafIndexKind(l) {
	case exactIndex:
		for _, o := range l.ops {
			appendOnce(fi.exact, o.s)
		}
	case prefixIndex:
		for _, o := range l.ops {
			appendOnce(fi.prefix, o.s)
		}
	case notIndex:
		if fi.notAll == nil {
			fi.notAll = make([]uint64, words)
		}
		fi.notAll[id/64] |= 1 << (id % 64)
		for _, s := range l.ops[0].list {
			appendOnce(fi.not, s)
		}
	}
}

// candidates marks in cand the patterns indexed under fi whose leaf may
// hold for the values the scan recorded.
func (fi *fieldIndex) candidates(s *scratch, cand []uint64) {
	head := s.heads[fi.f]
	if head < 0 {
		return // every indexed kind needs a present value
	}
	for vi := head; vi >= 0; vi = s.vals[vi].next {
		v := &s.vals[vi]
		if v.kind != vString {
			continue
		}
		for _, id := range fi.exact[string(v.raw)] {
			cand[id/64] |= 1 << (id % 64)
		}
		for _, n := range fi.plens {
			if n > len(v.raw) {
				break
			}
			for _, id := range fi.prefix[string(v.raw[:n])] {
				cand[id/64] |= 1 << (id % 64)
			}
		}
	}
	if fi.notAll == nil {
		return
	}
	for w, bits := range fi.notAll {
		cand[w] |= bits
	}
	// With one string value, anything-but holds exactly when the value is
	// not listed; otherwise leave all of them to full evaluation.
	if v := &s.vals[head]; v.next < 0 && v.kind == vString {
		for _, id := range fi.not[string(v.raw)] {
			cand[id/64] &^= 1 << (id % 64)
		}
	}
}
