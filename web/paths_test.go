package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopbus/shopbus/config"

	"github.com/shopbus/shopbus/web"
	"github.com/shopbus/shopbus/web/dashboard"
)

// escapeAll percent-encodes every byte of s, in lower- or upper-case hex.
func escapeAll(s string, lower bool) string {
	format := "%%%02X"
	if lower {
		format = "%%%02x"
	}
	var b strings.Builder
	for i := range len(s) {
		fmt.Fprintf(&b, format, s[i])
	}
	return b.String()
}

// pathForms are the ways a client may write v as one path segment: Go's
// canonical escaping, and every byte escaped in upper- and in lower-case
// hex. Each must name v, and only v.
func pathForms(v string) map[string]string {
	return map[string]string{
		"canonical":     url.PathEscape(v),
		"hex upper":     escapeAll(v, false),
		"hex lower":     escapeAll(v, true),
		"mixed escapes": mixed(v),
	}
}

// mixed is Go's escaping with lower-case hex, and ":" and "." escaped too,
// as a hand-written client might send it.
func mixed(v string) string {
	var b strings.Builder
	for _, r := range v {
		switch e := url.PathEscape(string(r)); {
		case r == ':' || r == '.':
			fmt.Fprintf(&b, "%%%02x", r)
		case strings.HasPrefix(e, "%"):
			b.WriteString(strings.ToLower(e))
		default:
			b.WriteString(e)
		}
	}
	return b.String()
}

// call sends a request with the admin key and decodes a JSON answer into out.
func (s *idemShop) call(method, path, body string, out any) int {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	r, err := s.do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	if out != nil && r.status < 300 {
		if err := json.Unmarshal(r.body, out); err != nil {
			s.t.Fatalf("%s %s: %v in %s", method, path, err, r.body)
		}
	}
	return r.status
}

func TestPathParametersDecodeOnce(t *testing.T) {
	s := newIdemShopWith(t, func(d *web.Deps, _ *config.HTTP) {
		dash, err := dashboard.New(dashboard.Deps{DB: d.DB, Keys: d.Keys, Orders: d.Checkout, Journeys: d.Bus, Rules: d.Bus,
			DeadLetters: d.Bus, Emails: d.Email, Stock: d.Inventory, Log: d.Log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(dash.Close)
		d.Dashboard = dash
	})

	t.Run("inventory", func(t *testing.T) {
		// A/B and A%2FB, and A%252FB, are three SKUs.
		skus := []string{"A/B", "A%2FB", "A%252FB", "50%", "café", "a:b", "x y?#&+=", "ключ/Ω", ".x", "a/../b"}
		for i, sku := range skus {
			onHand := int64(i * 10)
			var st struct {
				SKU    string `json:"sku"`
				OnHand int64  `json:"on_hand"`
			}
			for name, form := range pathForms(sku) {
				onHand++
				if got := s.call(http.MethodPut, "/v1/inventory/"+form, fmt.Sprintf(`{"on_hand":%d}`, onHand), &st); got != http.StatusOK || st.SKU != sku {
					t.Errorf("PUT %q (%s, %s): %d, sku %q", sku, name, form, got, st.SKU)
				}
				for other, read := range pathForms(sku) {
					st.SKU, st.OnHand = "", 0
					if got := s.call(http.MethodGet, "/v1/inventory/"+read, "", &st); got != http.StatusOK || st.SKU != sku || st.OnHand != onHand {
						t.Errorf("GET %q (%s after PUT %s): %d, %+v, want on hand %d", sku, other, name, got, st, onHand)
					}
				}
			}
		}
		var stored []string
		if err := s.db.Table("inventory_stock").Order("sku").Pluck("sku", &stored).Error; err != nil {
			t.Fatal(err)
		}
		want := slices.Clone(skus)
		slices.Sort(want)
		if !slices.Equal(stored, want) {
			t.Errorf("stock rows %q, want exactly %q", stored, want)
		}
	})

	t.Run("SKUs a URL cannot name are refused", func(t *testing.T) {
		for _, sku := range []string{".", ".."} {
			if got := s.call(http.MethodPut, "/v1/inventory/"+escapeAll(sku, false), `{"on_hand":1}`, nil); got != http.StatusUnprocessableEntity {
				t.Errorf("PUT %q: %d, want 422", sku, got)
			}
			body := strings.Replace(orderBody("ada@example.com"), `"sku":"MUG"`, `"sku":"`+sku+`"`, 1)
			if r := s.post("/v1/orders", body, ""); r.status != http.StatusUnprocessableEntity {
				t.Errorf("order with SKU %q: %s, want 422", sku, r)
			}
			if got := s.call(http.MethodPost, "/v1/apikeys", `{"name":"`+sku+`","scopes":["orders:read"]}`, nil); got != http.StatusUnprocessableEntity {
				t.Errorf("key named %q: %d, want 422", sku, got)
			}
		}
	})

	t.Run("API keys", func(t *testing.T) {
		names := []string{"shop/eu", "shop%2Feu", "shop%252Feu", "50%", "a:b", "ключ", "x y?#"}
		for _, name := range names {
			for form, path := range pathForms(name) {
				if got := s.call(http.MethodPost, "/v1/apikeys", `{"name":"`+name+`","scopes":["orders:read"]}`, nil); got != http.StatusCreated {
					t.Fatalf("create key %q: %d", name, got)
				}
				if got := s.call(http.MethodDelete, "/v1/apikeys/"+path, "", nil); got != http.StatusNoContent {
					t.Errorf("DELETE key %q (%s, %s): %d, want 204", name, form, path, got)
				}
			}
		}
		var list struct {
			Keys []web.KeyInfo `json:"keys"`
		}
		if got := s.call(http.MethodGet, "/v1/apikeys", "", &list); got != http.StatusOK {
			t.Fatalf("list keys: %d", got)
		}
		for _, k := range list.Keys {
			if slices.Contains(names, k.Name) && k.RevokedAt == nil {
				t.Errorf("key %q is still live: a DELETE revoked another", k.Name)
			}
		}
	})

	t.Run("orders and their dashboard pages", func(t *testing.T) {
		browser := s.dashboardLogin(t)
		n := 0
		for _, base := range []string{"ord:colon", "Ord.1_a-b:c"} {
			for form := range pathForms(base) {
				n++
				id := fmt.Sprintf("%s:%d", base, n)
				path := pathForms(id)[form]
				body := strings.Replace(orderBody("ada@example.com"), `{"customer"`, `{"order_id":"`+id+`","customer"`, 1)
				if r := s.post("/v1/orders", body, ""); r.status != http.StatusCreated {
					t.Fatalf("place %s: %s", id, r)
				}
				var o struct {
					OrderID    string `json:"order_id"`
					OrderState string `json:"order_state"`
				}
				if got := s.call(http.MethodGet, "/v1/orders/"+path, "", &o); got != http.StatusOK || o.OrderID != id {
					t.Errorf("GET order %q (%s, %s): %d, %+v", id, form, path, got, o)
				}
				if got := s.call(http.MethodPost, "/v1/orders/"+path+"/state", `{"order_state":"order_cancelled"}`, &o); got != http.StatusOK || o.OrderState != "order_cancelled" {
					t.Errorf("change order %q (%s, %s): %d, %+v", id, form, path, got, o)
				}
				resp, page := browser.get(t, s.url+"/dashboard/orders/"+path)
				if resp != http.StatusOK || !strings.Contains(page, id) {
					t.Errorf("dashboard page of %q (%s, %s): %d", id, form, path, resp)
				}
			}
		}
	})

	t.Run("dead letters", func(t *testing.T) {
		now := time.Now().UTC()
		err := s.db.Exec(`INSERT INTO bus_deliveries (id, event_seq, event_id, rule, target, payload, status, next_attempt_at, started_at, created_at, updated_at)
			VALUES (12, 1, 'ev-1', 'r', 'shipping', '{}', 'dead', ?, ?, ?, ?)`, now, now, now, now).Error
		if err != nil {
			t.Fatal(err)
		}
		for form, path := range pathForms("12") {
			var d struct {
				ID int64 `json:"id"`
			}
			if got := s.call(http.MethodGet, "/v1/dlq/"+path, "", &d); got != http.StatusOK || d.ID != 12 {
				t.Errorf("GET dead letter 12 (%s, %s): %d, %+v", form, path, got, d)
			}
		}
	})

	t.Run("profiles and static files", func(t *testing.T) {
		for form, path := range pathForms("cmdline") {
			if got := s.call(http.MethodGet, "/debug/pprof/"+path, "", nil); got != http.StatusOK {
				t.Errorf("GET profile cmdline (%s, %s): %d", form, path, got)
			}
		}
		for form, path := range pathForms("dashboard.css") {
			resp, err := http.Get(s.url + "/dashboard/static/" + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET static dashboard.css (%s, %s): %d", form, path, resp.StatusCode)
			}
		}
	})
}

// dashBrowser is a cookie-keeping client logged in to the dashboard.
type dashBrowser struct{ c *http.Client }

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (s *idemShop) dashboardLogin(t *testing.T) dashBrowser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := dashBrowser{c: &http.Client{Jar: jar}}
	_, page := b.get(t, s.url+"/dashboard/login")
	m := csrfInput.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf field on the login page: %s", page)
	}
	resp, err := b.c.PostForm(s.url+"/dashboard/login", url.Values{"csrf": {m[1]}, "key": {s.key}, "next": {"/dashboard/orders"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("log in: %d", resp.StatusCode)
	}
	return b
}

func (b dashBrowser) get(t *testing.T, u string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}
