package web

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"go.yaml.in/yaml/v3"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/database/dbtest"
	"github.com/shopbus/shopbus/modules/checkout"
	"github.com/shopbus/shopbus/modules/inventory"
)

// The drift rule: every (method, path) Echo routes is an operation of
// openapi.yaml and every operation is a route Echo has, and each operation's
// security, scope and Idempotency-Key are what the server does when asked.
// Only the routes Echo adds by itself to run a group's middleware on unknown
// paths (method echo.RouteNotFound, "/v1" and "/v1/*") are not operations.

// operation is one route: an HTTP method and a path in OpenAPI's syntax.
type operation struct{ method, path string }

func (o operation) String() string { return o.method + " " + o.path }

// routes is what Echo has registered.
func (s *Server) routes() []*echo.Route { return s.echo.Routes() }

var echoParam = regexp.MustCompile(`:([^/]+)`)

// registered lists the server's operations.
func registered(s *Server) map[operation]bool {
	ops := map[operation]bool{}
	for _, r := range s.routes() {
		if r.Method == echo.RouteNotFound {
			continue
		}
		ops[operation{r.Method, echoParam.ReplaceAllString(r.Path, "{$1}")}] = true
	}
	return ops
}

// document is openapi.yaml, parsed.
type document map[string]any

func loadDocument(t *testing.T) document {
	t.Helper()
	// Into a plain map: yaml.v3 gives nested mappings the type it decodes
	// into, and they must be map[string]any.
	var doc map[string]any
	if err := yaml.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.yaml does not parse: %v", err)
	}
	return doc
}

var pathItemMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// operations returns every operation of the document with its path item.
func (d document) operations(t *testing.T) map[operation]op {
	t.Helper()
	paths, ok := d["paths"].(map[string]any)
	if !ok {
		t.Fatal("openapi.yaml: paths is not a mapping")
	}
	ops := map[operation]op{}
	for path, v := range paths {
		item, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("openapi.yaml: paths.%s is not a mapping", path)
		}
		for _, m := range pathItemMethods {
			if o, ok := item[m].(map[string]any); ok {
				ops[operation{strings.ToUpper(m), path}] = op{doc: d, item: item, obj: o}
			}
		}
	}
	return ops
}

// resolve follows a local reference such as "#/components/schemas/Order".
func (d document) resolve(ref string) (any, bool) {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, false
	}
	var cur any = map[string]any(d)
	for _, tok := range strings.Split(rest, "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// deref returns v, or what it refers to when it is a {$ref: ...}.
func (d document) deref(v any) map[string]any {
	m, _ := v.(map[string]any)
	if ref, ok := m["$ref"].(string); ok {
		target, _ := d.resolve(ref)
		m, _ = target.(map[string]any)
	}
	return m
}

// op is one operation object with its path item.
type op struct {
	doc  document
	item map[string]any
	obj  map[string]any
}

// parameters returns the path item's and the operation's parameters.
func (o op) parameters() []map[string]any {
	var out []map[string]any
	for _, list := range []any{o.item["parameters"], o.obj["parameters"]} {
		l, _ := list.([]any)
		for _, p := range l {
			if m := o.doc.deref(p); m != nil {
				out = append(out, m)
			}
		}
	}
	return out
}

func (o op) hasParameter(in, name string) bool {
	return slices.ContainsFunc(o.parameters(), func(p map[string]any) bool { return p["in"] == in && p["name"] == name })
}

// scope is the operation's x-required-scope; empty for a public operation,
// one with `security: []`.
func (o op) scope() string { s, _ := o.obj["x-required-scope"].(string); return s }

func (o op) public() bool {
	sec, ok := o.obj["security"].([]any)
	return ok && len(sec) == 0
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadDocument(t)
	documented := doc.operations(t)
	var everything config.HTTP
	everything.RateLimit.RPS, everything.RateLimit.Burst = 10, 20
	everything.AuthFailures.PerMinute, everything.AuthFailures.Burst = 5, 5
	everything.TrustedProxies = []string{"10.0.0.0/8"}
	everything.CORSAllowOrigins = []string{"https://shop.example"}
	for _, tc := range []struct {
		name string
		cfg  config.HTTP
	}{
		{"defaults", config.HTTP{}},
		{"every option on", everything},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Registering routes touches no dependency but the logger.
			s, err := New(Deps{Log: slog.New(slog.DiscardHandler)}, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			routes := registered(s)
			if len(routes) == 0 {
				t.Fatal("the server registers no routes")
			}
			for r := range routes {
				if _, ok := documented[r]; !ok {
					t.Errorf("route %s is registered in web/server.go but missing from web/openapi.yaml: document it", r)
				}
			}
			for o := range documented {
				if !routes[o] {
					t.Errorf("operation %s is in web/openapi.yaml but the server registers no such route: remove it or fix its method or path", o)
				}
			}
		})
	}
}

func TestOpenAPIDocument(t *testing.T) {
	doc := loadDocument(t)
	if v, _ := doc["openapi"].(string); v != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", doc["openapi"])
	}
	ids := map[string]operation{}
	pathParam := regexp.MustCompile(`\{([^}]+)\}`)
	for key, o := range doc.operations(t) {
		id, _ := o.obj["operationId"].(string)
		switch prev, dup := ids[id]; {
		case id == "":
			t.Errorf("%s has no operationId", key)
		case dup:
			t.Errorf("%s and %s share the operationId %q", prev, key, id)
		}
		ids[id] = key
		if resp, ok := o.obj["responses"].(map[string]any); !ok || len(resp) == 0 {
			t.Errorf("%s has no responses (status codes must be quoted strings)", key)
		}
		for _, m := range pathParam.FindAllStringSubmatch(key.path, -1) {
			if !slices.ContainsFunc(o.parameters(), func(p map[string]any) bool {
				return p["in"] == "path" && p["name"] == m[1] && p["required"] == true
			}) {
				t.Errorf("%s does not declare its path parameter %q (in: path, required: true)", key, m[1])
			}
		}
		scope := o.scope()
		switch {
		case o.public() && scope != "":
			t.Errorf("%s is public (security: []) but names x-required-scope %q", key, scope)
		case !o.public() && !slices.Contains(Scopes, scope):
			t.Errorf("%s: x-required-scope %q is not one of %v (public operations say security: [])", key, scope, Scopes)
		case !o.public():
			if desc, _ := o.obj["description"].(string); !strings.Contains(desc, "Scope: `"+scope+"`") {
				t.Errorf("%s: its description does not say \"Scope: `%s`\"", key, scope)
			}
			sec, _ := o.obj["security"].([]any)
			if len(sec) == 0 {
				t.Errorf("%s: no security requirements; want bearerAuth and apiKeyHeader with [%s]", key, scope)
			}
			for _, req := range sec {
				reqm, _ := req.(map[string]any)
				for scheme, roles := range reqm {
					if r, _ := roles.([]any); len(r) != 1 || r[0] != scope {
						t.Errorf("%s: security %s lists %v, want [%s]", key, scheme, roles, scope)
					}
				}
			}
		}
	}

	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				refs = append(refs, ref)
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(map[string]any(doc))
	if len(refs) == 0 {
		t.Error("no $ref found; the walk is broken")
	}
	for _, ref := range refs {
		if _, ok := doc.resolve(ref); !ok {
			t.Errorf("$ref %q resolves to nothing", ref)
		}
	}
}

// TestOpenAPISecurity asks the server what each operation needs: a key at
// all, which scope, and whether it honours Idempotency-Key, and checks the
// document says the same. Handlers run against a real, empty database;
// requests carry no body, so writes stop at 415 before doing anything.
func TestOpenAPISecurity(t *testing.T) {
	ctx := context.Background()
	db := dbtest.Open(t, bus.Migrations, checkout.Migrations, inventory.Migrations, Migrations, IdempotencyMigrations)
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	b := bus.New(bus.Deps{DB: db, Log: log}, nil, bus.Options{})
	keys := NewKeys(db)
	var cfg config.HTTP
	cfg.AuthFailures.PerMinute, cfg.AuthFailures.Burst = 1000, 1000 // the key-less requests must not lock us out
	s, err := New(Deps{DB: db, Keys: keys, Bus: b, Checkout: checkout.New(db, b, database.Direct{DB: db}), Inventory: inventory.New(db), Log: log}, cfg)
	if err != nil {
		t.Fatal(err)
	}

	keyFor := map[string]string{} // by scopes, comma-joined
	key := func(scopes ...string) string {
		name := strings.Join(scopes, ",")
		if k, ok := keyFor[name]; ok {
			return k
		}
		k, _, err := keys.Create(ctx, NewKey{Name: "test " + name, Scopes: scopes})
		if err != nil {
			t.Fatal(err)
		}
		keyFor[name] = k
		return k
	}
	do := func(method, path, key string, header http.Header) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		for k, v := range header {
			req.Header[k] = v
		}
		if key != "" {
			req.Header.Set(echo.HeaderAuthorization, "Bearer "+key)
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		return rec
	}

	fill := regexp.MustCompile(`\{[^}]+\}`)
	for o, spec := range loadDocument(t).operations(t) {
		t.Run(o.String(), func(t *testing.T) {
			path := fill.ReplaceAllString(o.path, "missing")
			rec := do(o.method, path, "", nil)
			if spec.public() {
				if rec.Code == http.StatusUnauthorized {
					t.Fatalf("documented as public (security: []), but without a key the server answers 401")
				}
				return
			}
			if rec.Code != http.StatusUnauthorized || rec.Header().Get(echo.HeaderWWWAuthenticate) == "" {
				t.Fatalf("documented as needing a key, but without one the server answers %d (WWW-Authenticate %q), want 401 with WWW-Authenticate",
					rec.Code, rec.Header().Get(echo.HeaderWWWAuthenticate))
			}

			scope := spec.scope()
			var others []string // every scope but the documented one, admin excepted: admin holds all
			for _, sc := range Scopes {
				if sc != scope && sc != ScopeAdmin {
					others = append(others, sc)
				}
			}
			if rec := do(o.method, path, key(others...), nil); rec.Code != http.StatusForbidden {
				t.Errorf("x-required-scope is %s, but a key with only %v is answered %d, want 403", scope, others, rec.Code)
			}
			rec = do(o.method, path, key(scope), nil)
			if rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden {
				t.Errorf("x-required-scope is %s, but a key with it is answered %d: %s", scope, rec.Code, rec.Body)
			}

			// Idempotent answers two Idempotency-Key headers with 400
			// before the handler runs; elsewhere the header is ignored.
			two := http.Header{HeaderIdempotencyKey: {"a", "b"}}
			honours := do(o.method, path, key(scope), two).Code == http.StatusBadRequest
			if declared := spec.hasParameter("header", HeaderIdempotencyKey); declared != honours {
				t.Errorf("declares the Idempotency-Key header: %v; the server honours it: %v", declared, honours)
			}
		})
	}
}

func TestServeOpenAPI(t *testing.T) {
	onDisk, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk, openAPIDocument) {
		t.Fatal("the embedded document differs from openapi.yaml")
	}
	s, err := New(Deps{Log: slog.New(slog.DiscardHandler)}, config.HTTP{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)

	resp, err := http.Get(ts.URL + "/openapi.yaml") // no key: the document is public
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get(echo.HeaderContentType); ct != "application/yaml" {
		t.Errorf("Content-Type %q, want application/yaml", ct)
	}
	if resp.Header.Get(echo.HeaderXRequestID) == "" {
		t.Error("no X-Request-ID, which the document promises on every response")
	}
	if !bytes.Equal(body, openAPIDocument) {
		t.Errorf("served %d bytes that are not the embedded document (%d bytes)", len(body), len(openAPIDocument))
	}
}
