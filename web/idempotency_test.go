package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/web"
	"github.com/shopbus/shopbus/web/webtest"
)

// idemShop is the API served on a loopback port by the webtest harness.
// The bus does not run: orders and their events are written by the
// handlers' transactions all the same.
type idemShop struct {
	t   *testing.T
	db  *gorm.DB
	srv *web.Server
	url string
	key string // the admin API key
}

func newIdemShop(t *testing.T) *idemShop {
	t.Helper()
	return newIdemShopWith(t, func(*web.Deps, *config.HTTP) {})
}

// newIdemShopWith is newIdemShop with the gateway's dependencies and
// settings changed by configure.
func newIdemShopWith(t *testing.T, configure func(*web.Deps, *config.HTTP)) *idemShop {
	t.Helper()
	s := webtest.New(t, webtest.Options{Network: true, Server: configure})
	return &idemShop{t: t, db: s.DB, srv: s.Server, url: s.URL, key: webtest.AdminKey}
}

// idemResponse is what came back.
type idemResponse struct {
	status int
	header http.Header
	body   []byte
}

func (r idemResponse) replayed() bool { return r.header.Get("Idempotent-Replayed") == "true" }

func (r idemResponse) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// newRequest builds a JSON POST with apiKey as bearer token and, unless
// idemKeys is empty, those Idempotency-Key header values exactly.
func (s *idemShop) newRequest(path, body, apiKey string, idemKeys ...string) *http.Request {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+apiKey)
	if len(idemKeys) > 0 {
		req.Header["Idempotency-Key"] = idemKeys
	}
	return req
}

// do sends req over the network. It is safe from several goroutines.
func (s *idemShop) do(req *http.Request) (idemResponse, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return idemResponse{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return idemResponse{status: resp.StatusCode, header: resp.Header, body: body}, err
}

// post sends body to path with the admin key and idemKey ("" for none).
func (s *idemShop) post(path, body, idemKey string) idemResponse {
	s.t.Helper()
	return s.postAs(s.key, path, body, idemKey)
}

func (s *idemShop) postAs(apiKey, path, body, idemKey string) idemResponse {
	s.t.Helper()
	var keys []string
	if idemKey != "" {
		keys = []string{idemKey}
	}
	r, err := s.do(s.newRequest(path, body, apiKey, keys...))
	if err != nil {
		s.t.Fatal(err)
	}
	return r
}

// count runs a COUNT query.
func (s *idemShop) count(query string, args ...any) int64 {
	s.t.Helper()
	var n int64
	if err := s.db.Raw(query, args...).Scan(&n).Error; err != nil {
		s.t.Fatalf("%s: %v", query, err)
	}
	return n
}

func (s *idemShop) orders() int64 { return s.count(`SELECT COUNT(*) FROM checkout_orders`) }
func (s *idemShop) events() int64 { return s.count(`SELECT COUNT(*) FROM bus_events`) }
func (s *idemShop) keys() int64   { return s.count(`SELECT COUNT(*) FROM web_idempotency_keys`) }

// ageKey makes a stored key look as if it was first used age ago.
func (s *idemShop) ageKey(idemKey string, age time.Duration) {
	s.t.Helper()
	res := s.db.Exec(`UPDATE web_idempotency_keys SET created_at = ? WHERE idempotency_key = ?`, time.Now().UTC().Add(-age), idemKey)
	if res.Error != nil || res.RowsAffected != 1 {
		s.t.Fatalf("age key %s: %v (%d rows)", idemKey, res.Error, res.RowsAffected)
	}
}

// orderBody is a valid order without an order_id, so that, without the
// middleware, each request would make a new order with a generated id.
func orderBody(customer string) string {
	return `{"customer":{"email":"` + customer + `","name":"Ada Lovelace"},` +
		`"items":[{"sku":"MUG","name":"Mug","quantity":1,"unit_price_minor":1250}],"currency":"EUR",` +
		`"shipping_address":{"line1":"12 Rue de Rivoli","city":"Paris","postal_code":"75001","country":"FR"},` +
		`"payment":{"method":"card","reference":"ch_1","amount_minor":1250}}`
}

// orderID reads the order_id of a 201.
func orderID(t *testing.T, r idemResponse) string {
	t.Helper()
	if r.status != http.StatusCreated {
		t.Fatalf("want 201, got %s", r)
	}
	var acc struct {
		OrderID string `json:"order_id"`
	}
	if err := json.Unmarshal(r.body, &acc); err != nil || acc.OrderID == "" {
		t.Fatalf("accepted %s: %v", r.body, err)
	}
	return acc.OrderID
}

// wantProblem checks r is a problem+json with this status, and returns its detail.
func wantProblem(t *testing.T, r idemResponse, status int) string {
	t.Helper()
	if r.status != status {
		t.Fatalf("want %d, got %s", status, r)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q", ct)
	}
	var p struct {
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(r.body, &p); err != nil || p.Status != status {
		t.Fatalf("problem %s: %v", r.body, err)
	}
	return p.Detail
}

// wantReplay checks that again is first replayed exactly.
func wantReplay(t *testing.T, first, again idemResponse) {
	t.Helper()
	if first.replayed() {
		t.Errorf("first response is marked replayed")
	}
	if !again.replayed() {
		t.Fatalf("second response not marked Idempotent-Replayed: %s", again)
	}
	if again.status != first.status || !bytes.Equal(again.body, first.body) {
		t.Errorf("replay %s differs from %s", again, first)
	}
	for _, h := range []string{"Content-Type", "Location"} {
		if again.header.Get(h) != first.header.Get(h) {
			t.Errorf("replayed %s %q, first %q", h, again.header.Get(h), first.header.Get(h))
		}
	}
}

func TestIdempotencyReplaysCreate(t *testing.T) {
	s := newIdemShop(t)
	first := s.post("/v1/orders", orderBody("ada@example.com"), "order-1")
	orderID(t, first)
	again := s.post("/v1/orders", orderBody("ada@example.com"), "order-1")
	wantReplay(t, first, again)
	if first.header.Get("Location") == "" {
		t.Error("201 without Location")
	}
	if o, e := s.orders(), s.events(); o != 1 || e != 1 {
		t.Errorf("%d orders and %d events, want 1 and 1", o, e)
	}
}

func TestIdempotencyWithoutKeyPassesThrough(t *testing.T) {
	s := newIdemShop(t)
	a := s.post("/v1/orders", orderBody("ada@example.com"), "")
	b := s.post("/v1/orders", orderBody("ada@example.com"), "")
	if orderID(t, a) == orderID(t, b) || a.replayed() || b.replayed() {
		t.Errorf("requests without a key: %s and %s", a, b)
	}
	if n := s.keys(); n != 0 {
		t.Errorf("%d keys stored", n)
	}
}

func TestIdempotencyRefusesReuseWithAnotherRequest(t *testing.T) {
	s := newIdemShop(t)
	id := orderID(t, s.post("/v1/orders", orderBody("ada@example.com"), "k"))
	tests := []struct {
		name, path, body string
	}{
		{"other body", "/v1/orders", orderBody("bob@example.com")},
		{"same body, one more space", "/v1/orders", orderBody("ada@example.com") + " "},
		{"other path", "/v1/orders/" + id + "/state", `{"order_state":"order_paid"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.post(tc.path, tc.body, "k")
			if d := wantProblem(t, r, http.StatusUnprocessableEntity); d != "Idempotency-Key reused with a different request" {
				t.Errorf("detail %q", d)
			}
		})
	}
	if o, e, k := s.orders(), s.events(), s.keys(); o != 1 || e != 1 || k != 1 {
		t.Errorf("%d orders, %d events, %d keys after refused reuse, want 1, 1, 1", o, e, k)
	}
}

func TestIdempotencyConcurrentRequests(t *testing.T) {
	s := newIdemShop(t)
	const rounds, n = 5, 10
	conflicts := 0
	for round := range rounds {
		key := fmt.Sprintf("concurrent-%d", round)
		body := orderBody("ada@example.com")
		reqs := make([]*http.Request, n)
		for i := range reqs {
			reqs[i] = s.newRequest("/v1/orders", body, s.key, key)
		}
		resps := make([]idemResponse, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				resps[i], errs[i] = s.do(reqs[i])
			})
		}
		close(start)
		wg.Wait()

		var created []idemResponse
		for i, r := range resps {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			switch {
			case r.status == http.StatusCreated && !r.replayed():
				created = append(created, r)
			case r.status == http.StatusConflict:
				conflicts++
				if d := wantProblem(t, r, http.StatusConflict); !strings.Contains(d, "Idempotency-Key") {
					t.Errorf("409 not from the idempotency key: %q", d)
				}
			case r.status == http.StatusCreated && r.replayed():
			default:
				t.Errorf("round %d: unexpected %s", round, r)
			}
		}
		if len(created) != 1 {
			t.Fatalf("round %d: %d original 201s, want 1", round, len(created))
		}
		for _, r := range resps {
			if r.replayed() && !bytes.Equal(r.body, created[0].body) {
				t.Errorf("round %d: replay %s differs from %s", round, r, created[0])
			}
		}
		if o := s.orders(); o != int64(round+1) {
			t.Fatalf("round %d: %d orders, want %d", round, o, round+1)
		}
	}
	t.Logf("%d of %d concurrent requests were refused as in progress", conflicts, rounds*n)
}

// TestIdempotencyInProgress: a key whose first request has not finished
// answers 409, and does not run the handler.
func TestIdempotencyInProgress(t *testing.T) {
	s := newIdemShop(t)
	orderID(t, s.post("/v1/orders", orderBody("ada@example.com"), "k"))
	// Put the key back in the state a concurrent request finds it in.
	if err := s.db.Exec(`UPDATE web_idempotency_keys SET status = 0, body = ''`).Error; err != nil {
		t.Fatal(err)
	}
	wantProblem(t, s.post("/v1/orders", orderBody("ada@example.com"), "k"), http.StatusConflict)
	wantProblem(t, s.post("/v1/orders", orderBody("bob@example.com"), "k"), http.StatusUnprocessableEntity)
	if o := s.orders(); o != 1 {
		t.Errorf("%d orders, want 1", o)
	}
}

// TestIdempotencyDoesNotKeepRefusedRequests: a request refused before any
// work (422 here) stores nothing; the retry runs again and is refused again.
func TestIdempotencyDoesNotKeepRefusedRequests(t *testing.T) {
	s := newIdemShop(t)
	bad := strings.Replace(orderBody("not-an-email"), `"EUR"`, `"euro"`, 1)
	first := s.post("/v1/orders", bad, "bad-1")
	wantProblem(t, first, http.StatusUnprocessableEntity)
	if !bytes.Contains(first.body, []byte(`"customer.email"`)) {
		t.Fatalf("not checkout's validation error: %s", first)
	}
	if n := s.count(`SELECT COUNT(*) FROM web_idempotency_keys`); n != 0 {
		t.Errorf("%d idempotency rows after a refused request, want 0", n)
	}
	again := s.post("/v1/orders", bad, "bad-1")
	wantProblem(t, again, http.StatusUnprocessableEntity)
	if again.replayed() {
		t.Error("a refused request was replayed")
	}
	// Fixed, the same key places the order.
	ok := s.post("/v1/orders", orderBody("ada@example.com"), "bad-1")
	if ok.status != http.StatusCreated {
		t.Errorf("the fixed request: %s", ok)
	}
	if o := s.orders(); o != 1 {
		t.Errorf("%d orders, want 1", o)
	}
}

// TestIdempotencyReleasesKeyOn5xx: a server error is not stored, so the
// client's retry with the same key runs the handler.
func TestIdempotencyReleasesKeyOn5xx(t *testing.T) {
	s := newIdemShop(t)
	breakDisk := []string{`CREATE TRIGGER idem_fail BEFORE INSERT ON checkout_orders BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`}
	mend := `DROP TRIGGER idem_fail`
	if s.db.Dialector.Name() == database.Postgres {
		breakDisk = []string{
			`CREATE FUNCTION idem_fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk on fire'; END $$`,
			`CREATE TRIGGER idem_fail BEFORE INSERT ON checkout_orders FOR EACH ROW EXECUTE FUNCTION idem_fail()`,
		}
		mend = `DROP TRIGGER idem_fail ON checkout_orders`
	}
	for _, stmt := range breakDisk {
		if err := s.db.Exec(stmt).Error; err != nil {
			t.Fatal(err)
		}
	}
	body := orderBody("ada@example.com")
	wantProblem(t, s.post("/v1/orders", body, "retry-me"), http.StatusInternalServerError)
	if k, o := s.keys(), s.orders(); k != 0 || o != 0 {
		t.Fatalf("after a 500: %d keys, %d orders, want 0 and 0", k, o)
	}
	if err := s.db.Exec(mend).Error; err != nil {
		t.Fatal(err)
	}
	retry := s.post("/v1/orders", body, "retry-me")
	orderID(t, retry)
	wantReplay(t, retry, s.post("/v1/orders", body, "retry-me"))
	if o := s.orders(); o != 1 {
		t.Errorf("%d orders, want 1", o)
	}
}

func TestIdempotencyExpiredKeyIsNew(t *testing.T) {
	s := newIdemShop(t)
	body := orderBody("ada@example.com")
	first := orderID(t, s.post("/v1/orders", body, "old"))
	s.ageKey("old", 25*time.Hour)
	fresh := s.post("/v1/orders", body, "old")
	if second := orderID(t, fresh); second == first || fresh.replayed() {
		t.Fatalf("expired key replayed: %s", fresh)
	}
	wantReplay(t, fresh, s.post("/v1/orders", body, "old"))
	if o, k := s.orders(), s.keys(); o != 2 || k != 1 {
		t.Errorf("%d orders and %d keys, want 2 and 1", o, k)
	}
}

func TestIdempotencyKeysBelongToTheirAPIKey(t *testing.T) {
	s := newIdemShop(t)
	other, _, err := web.NewKeys(s.db).Create(context.Background(), web.NewKey{Name: "storefront", Scopes: []string{web.ScopeOrdersWrite, web.ScopeOrdersRead}})
	if err != nil {
		t.Fatal(err)
	}
	body := orderBody("ada@example.com")
	a := s.postAs(s.key, "/v1/orders", body, "shared")
	b := s.postAs(other, "/v1/orders", body, "shared")
	if orderID(t, a) == orderID(t, b) || b.replayed() {
		t.Fatalf("second API key got the first one's response: %s and %s", a, b)
	}
	wantReplay(t, a, s.postAs(s.key, "/v1/orders", body, "shared"))
	wantReplay(t, b, s.postAs(other, "/v1/orders", body, "shared"))
	if o := s.orders(); o != 2 {
		t.Errorf("%d orders, want 2", o)
	}
}

func TestIdempotencyReplaysStateChange(t *testing.T) {
	s := newIdemShop(t)
	id := orderID(t, s.post("/v1/orders", orderBody("ada@example.com"), ""))
	path := "/v1/orders/" + id + "/state"
	first := s.post(path, `{"order_state":"order_paid"}`, "pay-1")
	if first.status != http.StatusOK {
		t.Fatalf("state change: %s", first)
	}
	// Without the key, paying twice is refused as an invalid transition.
	wantReplay(t, first, s.post(path, `{"order_state":"order_paid"}`, "pay-1"))
	if e := s.count(`SELECT COUNT(*) FROM bus_events WHERE order_id = ?`, id); e != 2 {
		t.Errorf("%d events for the order, want 2 (created, paid)", e)
	}
}

func TestPurgeIdempotencyKeys(t *testing.T) {
	s := newIdemShop(t)
	for i, age := range []time.Duration{25 * time.Hour, 23 * time.Hour, 0} {
		key := fmt.Sprintf("k%d", i)
		s.post("/v1/orders", orderBody(fmt.Sprintf("c%d@example.com", i)), key)
		if age > 0 {
			s.ageKey(key, age)
		}
	}
	ctx := context.Background()
	n, err := s.srv.PurgeIdempotencyKeys(ctx, time.Now())
	if err != nil || n != 1 {
		t.Fatalf("purged %d, %v; want 1", n, err)
	}
	if n := s.count(`SELECT COUNT(*) FROM web_idempotency_keys WHERE idempotency_key IN ('k1', 'k2')`); n != 2 || s.keys() != 2 {
		t.Errorf("the wrong keys were purged")
	}
	if n, err := s.srv.PurgeIdempotencyKeys(ctx, time.Now()); err != nil || n != 0 {
		t.Errorf("second purge: %d, %v", n, err)
	}
	// A day later, everything has expired.
	if n, err := s.srv.PurgeIdempotencyKeys(ctx, time.Now().Add(24*time.Hour)); err != nil || n != 2 {
		t.Errorf("purge a day later: %d, %v; want 2", n, err)
	}
}

func TestIdempotencyKeyMustBeValid(t *testing.T) {
	s := newIdemShop(t)
	body := orderBody("ada@example.com")
	tests := []struct {
		name   string
		keys   []string
		direct bool // values net/http cannot send: served in process
	}{
		{name: "256 characters", keys: []string{strings.Repeat("k", 256)}},
		{name: "tab", keys: []string{"a\tb"}},
		{name: "not ASCII", keys: []string{"clé-1"}},
		{name: "two values", keys: []string{"a", "b"}},
		{name: "newline", keys: []string{"a\nb"}, direct: true},
		{name: "DEL", keys: []string{"a\x7fb"}, direct: true},
		{name: "empty", keys: []string{""}, direct: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := s.newRequest("/v1/orders", body, s.key, tc.keys...)
			var r idemResponse
			if tc.direct {
				rec := httptest.NewRecorder()
				s.srv.Handler().ServeHTTP(rec, req)
				r = idemResponse{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
			} else {
				var err error
				if r, err = s.do(req); err != nil {
					t.Fatal(err)
				}
			}
			wantProblem(t, r, http.StatusBadRequest)
		})
	}
	if o, k := s.orders(), s.keys(); o != 0 || k != 0 {
		t.Errorf("%d orders and %d keys after invalid keys", o, k)
	}
	longest := strings.Repeat("~", 255)
	first := s.post("/v1/orders", body, longest)
	orderID(t, first)
	wantReplay(t, first, s.post("/v1/orders", body, longest))
}
