package pattern

import (
	"bytes"
	"math/bits"
	"sync"
)

// Matcher matches one event against many patterns, reading the event once.
// Safe for concurrent use after construction.
type Matcher struct {
	pats   []*Pattern
	fields [][]int32 // per pattern: its local field ids mapped to global ids
	root   *trieNode // every field path any pattern uses
	nf     int       // number of global fields

	// fidx finds candidate patterns from the event's values; only those,
	// plus always, need evaluating.
	fidx    []*fieldIndex
	always  []uint64 // bitset of patterns without an indexed condition
	scratch sync.Pool
}

// trieNode is one step of a field path. field is the global field id of
// the path ending here, or -1.
type trieNode struct {
	field int32
	keys  []string
	kids  []*trieNode
	kmap  map[string]*trieNode // replaces the linear keys scan when wide
}

const linearKids = 8

func (n *trieNode) child(key []byte) *trieNode {
	if n.kmap != nil {
		return n.kmap[string(key)]
	}
	for i, k := range n.keys {
		if k == string(key) {
			return n.kids[i]
		}
	}
	return nil
}

// dotted follows a key holding dots one step per part: EventBridge joins
// nested keys with dots, so the event key "a.b" is the path a, b.
func (n *trieNode) dotted(key []byte) *trieNode {
	for n != nil {
		i := bytes.IndexByte(key, '.')
		if i < 0 {
			return n.child(key)
		}
		n, key = n.child(key[:i]), key[i+1:]
	}
	return nil
}

func (n *trieNode) add(key string) *trieNode {
	for i, k := range n.keys {
		if k == key {
			return n.kids[i]
		}
	}
	kid := &trieNode{field: -1}
	n.keys = append(n.keys, key)
	n.kids = append(n.kids, kid)
	return kid
}

func (n *trieNode) finish() {
	if len(n.keys) > linearKids {
		n.kmap = make(map[string]*trieNode, len(n.keys))
		for i, k := range n.keys {
			n.kmap[k] = n.kids[i]
		}
	}
	for _, k := range n.kids {
		k.finish()
	}
}

// NewMatcher builds a Matcher over patterns; Match reports indices into
// this slice.
func NewMatcher(patterns []*Pattern) *Matcher {
	m := &Matcher{
		pats:   append([]*Pattern(nil), patterns...),
		fields: make([][]int32, len(patterns)),
		root:   &trieNode{field: -1},
		always: make([]uint64, (len(patterns)+63)/64),
	}
	for i, p := range m.pats {
		m.fields[i] = make([]int32, len(p.paths))
		for j, path := range p.paths {
			n := m.root
			for _, k := range path {
				n = n.add(k)
			}
			if n.field < 0 {
				n.field = int32(m.nf)
				m.nf++
			}
			m.fields[i][j] = n.field
		}
	}
	m.root.finish()
	m.buildIndex()
	m.scratch.New = func() any { return newScratch(m) }
	return m
}

// Match appends the indices (into the slice given to NewMatcher) of all
// matching patterns to dst, in increasing order, and returns it. A
// malformed event is an error wrapping ErrInvalidEvent.
func (m *Matcher) Match(event []byte, dst []int) ([]int, error) {
	s := m.scratch.Get().(*scratch)
	defer m.scratch.Put(s)
	if err := s.scan(event); err != nil {
		return dst, err
	}
	cand := s.cand
	copy(cand, m.always)
	for _, fi := range m.fidx {
		fi.candidates(s, cand)
	}
	for w, word := range cand {
		for word != 0 {
			i := w*64 + bits.TrailingZeros64(word)
			word &= word - 1
			if s.evalNode(m.pats[i].root, m.fields[i]) {
				dst = append(dst, i)
			}
		}
	}
	return dst, nil
}

// evalNode reports whether every leaf and every $or group of n holds.
func (s *scratch) evalNode(n *node, fields []int32) bool {
	for _, l := range n.leaves {
		if !s.evalLeaf(l, fields[l.field]) {
			return false
		}
	}
	for _, alts := range n.ors {
		ok := false
		for _, alt := range alts {
			if s.evalNode(alt, fields) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (s *scratch) evalLeaf(l *leaf, f int32) bool {
	head := s.heads[f]
	for i := range l.ops {
		o := &l.ops[i]
		if o.kind == opExists {
			if o.exists == (head >= 0) {
				return true
			}
			continue
		}
		for vi := head; vi >= 0; vi = s.vals[vi].next {
			if o.match(&s.vals[vi]) {
				return true
			}
		}
	}
	return false
}
