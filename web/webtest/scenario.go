package webtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Scenario is one request and what its answer must be. Its zero
// expectations check nothing but the status; an answer of 400 or more must
// also be a problem+json that agrees with it (unless Plain).
type Scenario struct {
	Name string
	// Method defaults to GET, or POST when there is a Body.
	Method string
	URL    string
	// Key is sent as a bearer token, if set.
	Key string
	// Headers are "Name: value" lines that replace a default header (a name
	// given twice is sent twice) and "-Name" lines that remove one.
	Headers []string
	// Body is sent as is when a string, []byte or Chunked, and as JSON
	// otherwise, with Content-Type: application/json.
	Body any
	// RemoteAddr is the client's address for an in-process request
	// (httptest's 192.0.2.1:1234 when empty).
	RemoteAddr string

	Status int
	// Contains and NotContains are strings the body must and must not hold.
	Contains, NotContains []string
	// JSON maps JSON Pointers (RFC 6901, "/orders/0/order_id") into the
	// body to the value each must have.
	JSON map[string]any
	// Header maps response headers to their value: "" must be absent, "*"
	// present with any value.
	Header map[string]string
	// Fields are the fields a 422 must list among its invalid ones.
	Fields []string
	// Plain says the error answer is not problem+json (a dashboard page).
	Plain bool
	// Rows maps "table" or "table WHERE ..." to the rows it must hold after.
	Rows map[string]int64
	// Unchanged requires that no table gained or lost a row.
	Unchanged bool

	// Before runs before the request; After runs after the checks.
	Before func(t *testing.T, s *Shop)
	After  func(t *testing.T, s *Shop, r Response)
}

// Chunked is a body sent without a Content-Length.
type Chunked []byte

// Response is what came back.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r Response) String() string { return fmt.Sprintf("%d %.300s", r.Status, r.Body) }

// Problem is an application/problem+json body.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

// Lists reports whether field is among the problem's invalid fields.
func (p Problem) Lists(field string) bool {
	for _, e := range p.Errors {
		if e.Field == field {
			return true
		}
	}
	return false
}

// Decode reads a response that must have the wanted status into a T.
func Decode[T any](t testing.TB, want int, r Response) T {
	t.Helper()
	var v T
	if r.Status != want {
		t.Fatalf("status %d, want %d: %.500s", r.Status, want, r.Body)
	}
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("decode %.500s: %v", r.Body, err)
	}
	return v
}

// Run runs the scenarios in order, each as a subtest, on this shop.
func (s *Shop) Run(t *testing.T, scenarios ...Scenario) {
	t.Helper()
	for _, sc := range scenarios {
		name := sc.Name
		if name == "" {
			name = sc.method() + " " + sc.URL
		}
		t.Run(name, func(t *testing.T) { s.run(t, sc) })
	}
}

func (sc Scenario) method() string {
	switch {
	case sc.Method != "":
		return sc.Method
	case sc.Body != nil:
		return http.MethodPost
	}
	return http.MethodGet
}

func (s *Shop) run(t *testing.T, sc Scenario) {
	t.Helper()
	if sc.Before != nil {
		sc.Before(t, s)
	}
	var before string
	if sc.Unchanged {
		before = s.RowCounts(t)
	}
	r := s.Send(t, sc)
	CheckStatus(t, r, sc.Status)
	if sc.Status >= 400 && !sc.Plain {
		CheckProblem(t, r, sc.Fields...)
	}
	for _, want := range sc.Contains {
		if !bytes.Contains(r.Body, []byte(want)) {
			t.Errorf("the body lacks %q: %.500s", want, r.Body)
		}
	}
	for _, unwanted := range sc.NotContains {
		if bytes.Contains(r.Body, []byte(unwanted)) {
			t.Errorf("the body holds %q: %.500s", unwanted, r.Body)
		}
	}
	if len(sc.JSON) > 0 {
		checkJSON(t, r, sc.JSON)
	}
	for name, want := range sc.Header {
		got, present := r.Header.Get(name), len(r.Header.Values(name)) > 0
		switch want {
		case "":
			if present {
				t.Errorf("header %s: %q, want none", name, got)
			}
		case "*":
			if got == "" {
				t.Errorf("header %s missing", name)
			}
		default:
			if got != want {
				t.Errorf("header %s: %q, want %q", name, got, want)
			}
		}
	}
	for where, want := range sc.Rows {
		if got := s.Count(t, where); got != want {
			t.Errorf("%s: %d rows, want %d", where, got, want)
		}
	}
	if sc.Unchanged {
		if after := s.RowCounts(t); after != before {
			t.Errorf("rows written:\nbefore %s\nafter  %s", before, after)
		}
	}
	if sc.After != nil {
		sc.After(t, s, r)
	}
}

// CheckStatus fails t unless r has the wanted status, saying so loudly
// when the server failed.
func CheckStatus(t testing.TB, r Response, want int) {
	t.Helper()
	switch {
	case r.Status >= 500 && want < 500:
		t.Errorf("SERVER ERROR %s, want %d", r, want)
	case r.Status != want:
		t.Errorf("status %s, want %d", r, want)
	}
}

// CheckProblem asserts what every refusal carries: a problem+json body
// that agrees with the status, listing fields among its invalid ones, a
// request id of sane length, WWW-Authenticate on a 401 and Allow on a 405.
func CheckProblem(t testing.TB, r Response, fields ...string) Problem {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	var p Problem
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Errorf("the body is not a problem: %v: %.300s", err, r.Body)
	} else if p.Status != r.Status || p.Title == "" || p.Type == "" {
		t.Errorf("problem %+v for status %d", p, r.Status)
	}
	for _, f := range fields {
		if !p.Lists(f) {
			t.Errorf("%s not among the invalid fields %+v", f, p.Errors)
		}
	}
	if id := r.Header.Get("X-Request-ID"); id == "" || len(id) > 200 {
		t.Errorf("X-Request-ID of %d bytes, want 1-200", len(id))
	}
	if r.Status == http.StatusUnauthorized && r.Header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	if r.Status == http.StatusMethodNotAllowed && r.Header.Get("Allow") == "" {
		t.Error("405 without Allow")
	}
	return p
}

// checkJSON compares the values at JSON Pointers in r's body, each as
// JSON, so 5 and 5.0 agree and objects compare whole.
func checkJSON(t testing.TB, r Response, want map[string]any) {
	t.Helper()
	var doc any
	if err := json.Unmarshal(r.Body, &doc); err != nil {
		t.Errorf("the body is not JSON: %v: %.300s", err, r.Body)
		return
	}
	for ptr, w := range want {
		got, ok := pointer(doc, ptr)
		if !ok {
			t.Errorf("%s: not in %.300s", ptr, r.Body)
			continue
		}
		g, _ := json.Marshal(got)
		wb, err := json.Marshal(w)
		if err != nil {
			t.Fatalf("%s: %v", ptr, err)
		}
		if !bytes.Equal(g, wb) {
			t.Errorf("%s = %s, want %s", ptr, g, wb)
		}
	}
}

// pointer resolves a JSON Pointer in a decoded document.
func pointer(doc any, ptr string) (any, bool) {
	if ptr == "" {
		return doc, true
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil, false
	}
	cur := doc
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch v := cur.(type) {
		case map[string]any:
			var ok bool
			if cur, ok = v[tok]; !ok {
				return nil, false
			}
		case []any:
			var i int
			if _, err := fmt.Sscanf(tok, "%d", &i); err != nil || i < 0 || i >= len(v) || fmt.Sprint(i) != tok {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// Send sends the scenario's request (not its checks) and returns the answer.
func (s *Shop) Send(t testing.TB, sc Scenario) Response {
	t.Helper()
	var body io.Reader
	switch b := sc.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	case Chunked:
		body = io.MultiReader(bytes.NewReader(b)) // a reader of unknown length is sent chunked
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(raw)
	}
	var req *http.Request
	if s.URL != "" {
		var err error
		if req, err = http.NewRequest(sc.method(), s.URL+sc.URL, body); err != nil {
			t.Fatal(err)
		}
	} else {
		req = httptest.NewRequest(sc.method(), sc.URL, body)
		if sc.RemoteAddr != "" {
			req.RemoteAddr = sc.RemoteAddr
		}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if sc.Key != "" {
		req.Header.Set("Authorization", "Bearer "+sc.Key)
	}
	set := map[string]bool{}
	for _, h := range sc.Headers {
		if name, ok := strings.CutPrefix(h, "-"); ok {
			req.Header.Del(name)
			continue
		}
		name, value, _ := strings.Cut(h, ":")
		value = strings.TrimPrefix(value, " ")
		if set[name] {
			req.Header.Add(name, value)
		} else {
			req.Header.Set(name, value)
			set[name] = true
		}
	}
	return s.Do(t, req)
}

// Do sends req: over the network to URL with Options.Network (req's URL
// then must name it), to the handler otherwise.
func (s *Shop) Do(t testing.TB, req *http.Request) Response {
	t.Helper()
	if s.URL == "" {
		rec := httptest.NewRecorder()
		s.Server.Handler().ServeHTTP(rec, req)
		res := rec.Result()
		return Response{Status: res.StatusCode, Header: res.Header, Body: rec.Body.Bytes()}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: out}
}

// Request sends one request with key ("" for none) and extra header
// lines, as a Scenario would, and returns the answer unchecked.
func (s *Shop) Request(t testing.TB, method, url string, body any, key string, headers ...string) Response {
	t.Helper()
	return s.Send(t, Scenario{Method: method, URL: url, Body: body, Key: key, Headers: headers})
}
