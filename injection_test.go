package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/modules/checkout"
	"github.com/shopbus/shopbus/modules/email/smtptest"
)

// TestInjectionStringsStoredVerbatim places orders whose free text is SQL
// and HTML and checks that it is data: stored and shown back byte for byte,
// the tables intact, and escaped in the HTML email.
func TestInjectionStringsStoredVerbatim(t *testing.T) {
	mail := smtptest.Start(t, "127.0.0.1:0")
	s := startShop(t, testConfig(t, mail.Addr()), mail)
	store := s.cfg.Database
	s.setStock("MUG", 100)
	hostile := []string{
		`Robert'); DROP TABLE checkout_orders;--`,
		`' OR '1'='1`,
		`1; DELETE FROM web_api_keys; /*`,
		`<script>alert(1)</script>`,
		`"><img src=x onerror=alert(1)>`,
		`{{.CustomerEmail}} {{template "x"}} ${7*7} %s%n`,
		"مرحبا\u200f Shop \u200eאב", // right-to-left and left-to-right marks, which names need
		"Zoë 🛒 👩‍👩‍👧 café",          // emoji, a ZWJ sequence, accents
	}
	for i, v := range hostile {
		id := fmt.Sprintf("ord-inj-%d", i)
		o := newOrder(id, fmt.Sprintf("inj%d@example.com", i), "MUG", 1)
		o["customer"].(map[string]string)["name"] = v
		o["items"].([]map[string]any)[0]["name"] = v
		o["shipping_address"].(map[string]string)["line1"] = v
		o["payment"].(map[string]any)["reference"] = v
		must[map[string]string](t, http.StatusCreated)(s.request("POST", "/v1/orders", o))
	}

	for i, v := range hostile {
		id := fmt.Sprintf("ord-inj-%d", i)
		s.waitSettled(id, 4, 1)
		status, raw := s.request("GET", "/v1/orders/"+id, nil)
		got := must[checkout.Order](t, http.StatusOK)(status, raw)
		if len(got.Items) != 1 {
			t.Fatalf("%s: items %+v", id, got.Items)
		}
		for field, g := range map[string]string{"customer.name": got.Customer.Name, "items[0].name": got.Items[0].Name,
			"shipping_address.line1": got.ShippingAddress.Line1, "payment.reference": got.Payment.Reference} {
			if g != v {
				t.Errorf("%s %s = %q, want %q", id, field, g, v)
			}
		}
		if bytes.Contains(bytes.ToLower(raw), []byte("<script")) || bytes.Contains(raw, []byte("<img")) {
			t.Errorf("%s: the JSON carries raw markup: %s", id, raw)
		}
		var stored string
		queryRow(t, store, fmt.Sprintf("SELECT body FROM checkout_orders WHERE order_id = '%s'", id), &stored)
		var row checkout.Order
		if err := json.Unmarshal([]byte(stored), &row); err != nil || row.Customer.Name != v || row.ShippingAddress.Line1 != v {
			t.Errorf("%s stored as %s (%v)", id, stored, err)
		}
		var crmName string
		queryRow(t, store, fmt.Sprintf("SELECT name FROM crm_customers WHERE email = 'inj%d@example.com'", i), &crmName)
		if crmName != v {
			t.Errorf("%s: CRM has the name %q, want %q", id, crmName, v)
		}
	}

	// The tables are all there and hold what was placed.
	var tables, orders, keys int
	catalog := "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN (%s)"
	if store.Driver == database.Postgres {
		catalog = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name IN (%s)"
	}
	queryRow(t, store, fmt.Sprintf(catalog, quoted(countedTables)), &tables)
	queryRow(t, store, "SELECT COUNT(*) FROM checkout_orders", &orders)
	queryRow(t, store, "SELECT COUNT(*) FROM web_api_keys", &keys)
	if tables != len(countedTables) || orders != len(hostile) || keys != 1 {
		t.Errorf("%d of %d tables, %d orders (want %d), %d API keys (want 1)", tables, len(countedTables), orders, len(hostile), keys)
	}

	// The order-success mail shows each string escaped in HTML, as is in text.
	byTo := map[string]smtptest.Parsed{}
	for _, m := range mail.Messages() {
		p, err := smtptest.Parse(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.To) == 1 {
			byTo[m.To[0]] = p
		}
	}
	for i, v := range hostile {
		p, ok := byTo[fmt.Sprintf("inj%d@example.com", i)]
		if !ok {
			t.Errorf("no mail for order %d", i)
			continue
		}
		if escaped := template.HTMLEscapeString(v); strings.Count(p.HTML, escaped) < 3 {
			t.Errorf("order %d: HTML shows %q fewer than 3 times (name, item, address):\n%s", i, escaped, p.HTML)
		}
		if lower := strings.ToLower(p.HTML); strings.Contains(lower, "<script") || strings.Contains(lower, "<img") {
			t.Errorf("order %d: HTML carries raw markup:\n%s", i, p.HTML)
		}
		if strings.Count(p.Text, v) < 3 {
			t.Errorf("order %d: text shows %q fewer than 3 times:\n%s", i, v, p.Text)
		}
	}
}

// countedTables are the tables a hostile string could have dropped.
var countedTables = []string{"checkout_orders", "bus_events", "bus_deliveries", "inventory_stock",
	"inventory_reservations", "shipping_shipments", "payment_payments", "crm_customers", "crm_orders",
	"email_jobs", "web_api_keys", "web_idempotency_keys"}

func quoted(names []string) string {
	return "'" + strings.Join(names, "', '") + "'"
}
