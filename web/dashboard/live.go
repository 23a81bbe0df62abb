package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/modules/checkout"
)

// The live view is a stream of server-sent events fed by polling the
// database, not by hooks in memory: it sees the changes of every instance
// that shares the database.
const (
	// tick is how often a stream looks for changes.
	tick = 500 * time.Millisecond
	// streamFor bounds one stream, inside the server's request deadline
	// (20 s) and write timeout (30 s). The browser reconnects at once with
	// the cursor in Last-Event-ID, and the session is checked again.
	streamFor = 15 * time.Second
	// lookBack is how far behind its cursor a stream reads again: a writer
	// stamps a row before it commits, so a row can land with a time the
	// cursor has passed. Rows already sent are not sent twice.
	lookBack = 2 * time.Second
	// batch and maxBatches bound what one tick reads of a table; a busier
	// table is caught up over the following ticks.
	batch, maxBatches = 200, 5
	// maxOrders bounds the rows of the order list one tick redraws.
	maxOrders = 100
)

// liveURL is the stream of a page rendered at since: the order page's
// when order is set, the order list's otherwise.
func liveURL(order string, since time.Time) string {
	q := url.Values{"since": {strconv.FormatInt(since.UnixNano(), 10)}}
	if order != "" {
		q.Set("order", order)
	}
	return "/dashboard/live?" + q.Encode()
}

// patch tells the page to replace the element whose id is ID with HTML,
// or, when there is none, to add HTML at the start or end (At) of the
// element Into, if that element takes new rows.
type patch struct {
	ID   string `json:"id"`
	HTML string `json:"html"`
	Into string `json:"into,omitempty"`
	At   string `json:"at,omitempty"`
}

func (d *Dashboard) live(c echo.Context) error {
	s, _ := current(c)
	since := time.Now()
	for _, v := range []string{c.Request().Header.Get("Last-Event-ID"), c.QueryParam("since")} {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			since = time.Unix(0, n)
			break
		}
	}
	f := &feed{d: d, order: c.QueryParam("order"), csrf: s.CSRF, orders: newStream[string](since), deliveries: newStream[int64](since)}
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no") // a proxy must pass each event on at once
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, "retry: 1000\n\n"); err != nil {
		return nil
	}
	w.Flush()

	ctx := c.Request().Context()
	end := time.NewTimer(streamFor)
	defer end.Stop()
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		patches, err := f.poll(ctx)
		if err != nil {
			if ctx.Err() == nil {
				d.Log.Warn("dashboard: live view", "err", err)
			}
			return nil
		}
		if send(w, patches, f.cursor()) != nil {
			return nil // the browser went away
		}
		select {
		case <-t.C:
			continue
		case <-ctx.Done():
		case <-d.stopping:
		case <-end.C:
		}
		_ = send(w, nil, f.cursor()) // the cursor, for the reconnection
		return nil
	}
}

// send writes the patches as "patch" events; the cursor goes with the
// last of them, or with an empty "cursor" event when there are none.
func send(w *echo.Response, patches []patch, cursor string) error {
	var buf bytes.Buffer
	for i, p := range patches {
		data, err := json.Marshal(p) // one line: JSON escapes the HTML's newlines
		if err != nil {
			return err
		}
		buf.WriteString("event: patch\n")
		if i == len(patches)-1 {
			fmt.Fprintf(&buf, "id: %s\n", cursor)
		}
		fmt.Fprintf(&buf, "data: %s\n\n", data)
	}
	if len(patches) == 0 {
		fmt.Fprintf(&buf, "event: cursor\nid: %s\ndata: {}\n\n", cursor)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return err
	}
	w.Flush()
	return nil
}

// stream is a cursor over one table's changes: every change stamped before
// mark-lookBack was read; sent remembers what was sent since, by row.
type stream[K comparable] struct {
	mark time.Time
	sent map[K]time.Time
}

func newStream[K comparable](since time.Time) *stream[K] {
	return &stream[K]{mark: since, sent: map[K]time.Time{}}
}

func (s *stream[K]) from() time.Time { return s.mark.Add(-lookBack) }

// fresh reports whether the row's version at has not been sent yet, and
// remembers it as sent.
func (s *stream[K]) fresh(id K, at time.Time) bool {
	if prev, ok := s.sent[id]; ok && prev.Equal(at) {
		return false
	}
	s.sent[id] = at
	return true
}

func (s *stream[K]) advance(to time.Time) {
	if to.After(s.mark) {
		s.mark = to
	}
	for id, at := range s.sent {
		if at.Before(s.from()) {
			delete(s.sent, id)
		}
	}
}

// feed finds what changed for one page.
type feed struct {
	d *Dashboard
	// order is the order page's order; empty for the order list.
	order      string
	csrf       string
	orders     *stream[string]
	deliveries *stream[int64]
}

// cursor is where a reconnected stream starts: the older of the two marks.
func (f *feed) cursor() string {
	return strconv.FormatInt(min(f.orders.mark.UnixNano(), f.deliveries.mark.UnixNano()), 10)
}

func (f *feed) poll(ctx context.Context) ([]patch, error) {
	start := time.Now() // taken before reading: what a read misses lands after it
	ds, err := f.changedDeliveries(ctx, start)
	if err != nil {
		return nil, err
	}
	if f.order != "" {
		return f.orderPatches(ctx, start, ds)
	}
	orders, err := f.changedOrders(ctx, start)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, o := range orders {
		ids = append(ids, o.OrderID)
	}
	for _, dl := range ds {
		if dl.OrderID != "" {
			ids = append(ids, dl.OrderID)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 {
		return nil, nil
	}
	if len(ids) > maxOrders {
		ids = ids[:maxOrders]
	}
	changed, err := f.d.Orders.Orders(ctx, ids)
	if err != nil {
		return nil, err
	}
	rows, err := f.d.orderRows(ctx, changed)
	if err != nil {
		return nil, err
	}
	var out []patch
	for _, r := range slices.Backward(rows) { // oldest first: each new one goes on top
		html, err := f.d.partial("order-row", r)
		if err != nil {
			return nil, err
		}
		out = append(out, patch{ID: "order-" + r.OrderID, HTML: html, Into: "orders-body", At: "start"})
	}
	return out, nil
}

// orderPatches redraws the order page's changed deliveries, its state and
// the actions it allows, and what the modules recorded of it.
func (f *feed) orderPatches(ctx context.Context, start time.Time, ds []bus.DeliveryRecord) ([]patch, error) {
	var out []patch
	for _, dl := range ds {
		html, err := f.d.partial("delivery-row", deliveryRow{DeliveryRecord: dl, CSRF: f.csrf, Back: orderPath(f.order)})
		if err != nil {
			return nil, err
		}
		out = append(out, patch{ID: "delivery-" + strconv.FormatInt(dl.ID, 10), HTML: html, Into: "deliveries-body", At: "end"})
	}
	o, err := f.d.Orders.Get(ctx, f.order)
	if err != nil {
		return nil, err
	}
	moved := !o.UpdatedAt.Before(f.orders.from()) && f.orders.fresh(o.OrderID, o.UpdatedAt)
	if moved {
		for _, p := range []struct {
			id   string
			data any
		}{{"order-state", o}, {"order-actions", orderActions(o, f.csrf)}} {
			html, err := f.d.partial(p.id, p.data)
			if err != nil {
				return nil, err
			}
			out = append(out, patch{ID: p.id, HTML: html})
		}
	}
	// The modules' records change as the order's deliveries are done.
	if moved || len(ds) > 0 {
		recs, err := f.d.records(ctx, o)
		if err != nil {
			return nil, err
		}
		html, err := f.d.partial("order-records", recs)
		if err != nil {
			return nil, err
		}
		out = append(out, patch{ID: "order-records", HTML: html})
	}
	f.orders.advance(start)
	return out, nil
}

// changedDeliveries reads the deliveries changed since the stream's mark
// that were not sent yet.
func (f *feed) changedDeliveries(ctx context.Context, start time.Time) ([]bus.DeliveryRecord, error) {
	return unsent(f.deliveries, start, func(since time.Time, after int64) ([]bus.DeliveryRecord, error) {
		return f.d.Journeys.ChangedDeliveries(ctx, since, after, f.order, batch)
	}, func(r bus.DeliveryRecord) (int64, time.Time) { return r.ID, r.UpdatedAt })
}

// changedOrders is changedDeliveries for orders: new ones and new states.
func (f *feed) changedOrders(ctx context.Context, start time.Time) ([]checkout.Order, error) {
	return unsent(f.orders, start, func(since time.Time, after string) ([]checkout.Order, error) {
		return f.d.Orders.Changed(ctx, since, after, batch)
	}, func(o checkout.Order) (string, time.Time) { return o.OrderID, o.UpdatedAt })
}

// unsent pages through one table's changes since s's mark, at most
// maxBatches pages of batch rows, and returns the rows not sent yet. fetch
// reads the rows changed at or after since, past the row after (by change
// time, then key); version names a row and when it last changed.
func unsent[K comparable, T any](s *stream[K], start time.Time, fetch func(since time.Time, after K) ([]T, error),
	version func(T) (K, time.Time)) ([]T, error) {
	var out []T
	since, after := s.from(), *new(K)
	for range maxBatches {
		rows, err := fetch(since, after)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			if s.fresh(version(r)) {
				out = append(out, r)
			}
		}
		if len(rows) < batch {
			s.advance(start)
			break
		}
		after, since = version(rows[len(rows)-1])
		s.advance(since)
	}
	return out, nil
}

// partial renders one of partials.html's templates alone.
func (d *Dashboard) partial(name string, data any) (string, error) {
	var buf bytes.Buffer
	if err := d.rows.ExecuteTemplate(&buf, name, data); err != nil {
		return "", fmt.Errorf("dashboard: render %s: %w", name, err)
	}
	return buf.String(), nil
}
