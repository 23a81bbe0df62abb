package bus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/shopbus/shopbus/fault"
)

// A DeadLetterSource keeps the dead letters of one kind and sends them
// again: the bus its dead deliveries (Bus, Records), the email module the
// emails it could not send. Its dead letters carry its Kind; a Redrive
// reaches it only when it selects its kind or every kind.
type DeadLetterSource interface {
	Kind() string
	// DeadLetters lists them, oldest first, for one target or all (target
	// empty), at most limit.
	DeadLetters(ctx context.Context, target string, limit int) ([]DeadLetter, error)
	// DeadLetter returns one, or an error with the code NotFound.
	DeadLetter(ctx context.Context, id int64) (DeadLetter, error)
	DeadByTarget(ctx context.Context) (map[string]int64, error)
	// Redrive puts them back in line with a fresh budget of attempts,
	// keeping their errors, and says how many (IDs none of which is dead:
	// NotFound).
	Redrive(ctx context.Context, r Redrive) (int64, error)
}

// DLQ is the dead letters of every source as one list: what `shopbus dlq`,
// /v1/dlq and the dashboard show and redrive.
type DLQ []DeadLetterSource

// ErrUnknownKind refuses a kind no source keeps.
var ErrUnknownKind = fault.New(fault.Invalid, "dlq: no such kind of dead letter")

// Check refuses a redrive that does not name exactly one of IDs, a
// target, or all.
func (r Redrive) Check() error {
	n := 0
	for _, set := range []bool{len(r.IDs) > 0, r.Target != "", r.All} {
		if set {
			n++
		}
	}
	if n != 1 {
		return ErrBadRedrive
	}
	return nil
}

// sources are those of kind, every one when kind is empty.
func (q DLQ) sources(kind string) ([]DeadLetterSource, error) {
	if kind == "" {
		return q, nil
	}
	var kinds []string
	for _, s := range q {
		if s.Kind() == kind {
			return []DeadLetterSource{s}, nil
		}
		kinds = append(kinds, s.Kind())
	}
	return nil, fmt.Errorf("%w: %q (known: %s)", ErrUnknownKind, kind, strings.Join(kinds, ", "))
}

// DeadLetters lists the dead letters of every kind, oldest first, for one
// target or all, at most limit.
func (q DLQ) DeadLetters(ctx context.Context, target string, limit int) ([]DeadLetter, error) {
	all := []DeadLetter{}
	for _, s := range q {
		dead, err := s.DeadLetters(ctx, target, limit)
		if err != nil {
			return nil, err
		}
		all = append(all, dead...)
	}
	slices.SortStableFunc(all, func(a, b DeadLetter) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.ID, b.ID))
	})
	return all[:min(len(all), limit)], nil
}

// DeadLetter returns the dead letter id of kind (empty: a delivery).
func (q DLQ) DeadLetter(ctx context.Context, kind string, id int64) (DeadLetter, error) {
	src, err := q.sources(cmp.Or(kind, KindDelivery))
	if err != nil {
		return DeadLetter{}, err
	}
	return src[0].DeadLetter(ctx, id)
}

// DeadByTarget counts the dead letters of each target, every kind summed.
func (q DLQ) DeadByTarget(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	for _, s := range q {
		counts, err := s.DeadByTarget(ctx)
		if err != nil {
			return nil, err
		}
		for t, n := range counts {
			out[t] += n
		}
	}
	return out, nil
}

// Redrive sends dead letters again: those IDs of r.Kind (a delivery when
// empty), or every one of a target or all, of r.Kind or of every kind.
func (q DLQ) Redrive(ctx context.Context, r Redrive) (int64, error) {
	if err := r.Check(); err != nil {
		return 0, err
	}
	kind := r.Kind
	if len(r.IDs) > 0 {
		kind = cmp.Or(kind, KindDelivery)
	}
	srcs, err := q.sources(kind)
	if err != nil {
		return 0, err
	}
	var total int64
	var errs []error
	for _, s := range srcs {
		n, err := s.Redrive(ctx, r)
		total += n
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return total, err
	}
	return total, nil
}
