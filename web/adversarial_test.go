package web_test

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopbus/shopbus/web/webtest"
)

// validOrder is the one good order every hostile order body below is made
// from, so that each case has exactly one defect. The suite places it at
// the end to prove it is good.
const validOrder = `{"order_id":"adv-0","customer":{"email":"adv@example.com","name":"Ada Lovelace"},` +
	`"items":[{"sku":"MUG","name":"Mug","quantity":1,"unit_price_minor":1250}],"currency":"EUR",` +
	`"shipping_address":{"line1":"12 Rue de Rivoli","city":"Paris","postal_code":"75001","country":"FR"},` +
	`"payment":{"method":"card","reference":"ch_1","amount_minor":1250}}`

// advCase is one hostile request. By default it carries the admin key and,
// with a body, Content-Type: application/json.
type advCase struct {
	name         string
	method, path string
	header       []string // "Name: value" replaces a default (repeat it to send several), "-Name" removes one
	body         any      // string, []byte or webtest.Chunked
	want         int
	field        string // for a 422: a field the problem must list
}

// TestAdversarial sends hostile requests to one real server, the bus and
// the email worker running, and checks that each is refused with its 4xx
// and a problem+json body, that none writes a row anywhere, and that the
// server still serves afterwards.
func TestAdversarial(t *testing.T) {
	t.Parallel()
	s := webtest.New(t, webtest.Options{Run: true, Network: true})
	setStock(t, s, "MUG", 100)
	// An order to aim state changes at, settled so nothing moves below.
	webtest.Decode[map[string]string](t, http.StatusCreated, s.Request(t, "POST", "/v1/orders", newOrder("adv-state", "state@example.com", "MUG", 1), admin))
	waitSettled(t, s, "adv-state", 4, 1)
	initial := s.Settled(t)

	n := 0
	// order is validOrder with each (old, new) pair replaced once, and an
	// order id of its own.
	order := func(pairs ...string) string {
		t.Helper()
		body := validOrder
		for i := 0; i+1 < len(pairs); i += 2 {
			if !strings.Contains(body, pairs[i]) {
				t.Fatalf("order edit: %q is not in the order", pairs[i])
			}
			body = strings.Replace(body, pairs[i], pairs[i+1], 1)
		}
		n++
		return strings.Replace(body, `"adv-0"`, fmt.Sprintf(`"adv-%d"`, n), 1)
	}
	const (
		qty   = `"quantity":1,`
		price = `"unit_price_minor":1250`
		cur   = `"currency":"EUR"`
		name  = `"name":"Ada Lovelace"`
		item  = `"name":"Mug"`
		sku   = `"sku":"MUG"`
		line1 = `"line1":"12 Rue de Rivoli"`
		cntry = `"country":"FR"`
		email = `"email":"adv@example.com"`
		state = "/v1/orders/adv-state/state"
	)
	many := func(n int) string { // an order of n items
		return order(`[{"sku":"MUG","name":"Mug","quantity":1,"unit_price_minor":1250}]`,
			"["+strings.Repeat(`{"sku":"MUG","name":"Mug","quantity":1,"unit_price_minor":1250},`, n-1)+
				`{"sku":"MUG","name":"Mug","quantity":1,"unit_price_minor":1250}]`)
	}
	deep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	deepObjects := strings.Repeat(`{"a":`, 100000) + "1" + strings.Repeat("}", 100000)
	overMiB := order() + strings.Repeat(" ", 1<<20) // valid JSON, just too long
	tenMB := order() + strings.Repeat(" ", 10<<20)
	key := "Authorization: Bearer "

	tests := []advCase{
		// Malformed JSON.
		{name: "json/missing closing brace", body: strings.TrimSuffix(order(), "}"), want: 400},
		{name: "json/trailing comma", body: strings.TrimSuffix(order(), "}") + ",}", want: 400},
		{name: "json/single quotes", body: `{'currency':'EUR'}`, want: 400},
		{name: "json/bare words", body: `{currency: EUR}`, want: 400},
		{name: "json/empty body", body: "", want: 400},
		{name: "json/only whitespace", body: " \n\t\r ", want: 400},
		{name: "json/array", body: `[]`, want: 400},
		{name: "json/string", body: `"order"`, want: 400},
		{name: "json/null", body: `null`, want: 400},
		{name: "json/number", body: `42`, want: 400},
		{name: "json/two orders", body: order() + order(), want: 400},
		{name: "json/trailing garbage", body: order() + "x", want: 400},
		{name: "json/byte order mark", body: "\xEF\xBB\xBF" + order(), want: 400},
		{name: "json/comment", body: order(cur, cur+` /* free */`), want: 400},
		{name: "json/NaN", body: order(qty, `"quantity":NaN,`), want: 400},
		{name: "json/hex number", body: order(qty, `"quantity":0x1,`), want: 400},
		{name: "json/leading plus", body: order(qty, `"quantity":+1,`), want: 400},
		{name: "json/raw newline in a string", body: order(name, "\"name\":\"Ada\nLovelace\""), want: 400},
		{name: "json/truncated at 1", body: validOrder[:1], want: 400},
		{name: "json/truncated in a key", body: validOrder[:5], want: 400},
		{name: "json/truncated after a colon", body: validOrder[:strings.Index(validOrder, `"customer":`)+11], want: 400},
		{name: "json/truncated at a third", body: validOrder[:len(validOrder)/3], want: 400},
		{name: "json/truncated in a string", body: validOrder[:strings.Index(validOrder, "Rivoli")+3], want: 400},
		{name: "json/truncated at two thirds", body: validOrder[:2*len(validOrder)/3], want: 400},

		// Wrong types: a value that is not of the field's type is not an order.
		{name: "type/quantity string", body: order(qty, `"quantity":"1",`), want: 400},
		{name: "type/quantity float", body: order(qty, `"quantity":1.5,`), want: 400},
		{name: "type/quantity bool", body: order(qty, `"quantity":true,`), want: 400},
		{name: "type/quantity object", body: order(qty, `"quantity":{},`), want: 400},
		{name: "type/price string", body: order(price, `"unit_price_minor":"1250"`), want: 400},
		{name: "type/items object", body: order(`"items":[`, `"items":{"0":`, `}],"currency"`, `}},"currency"`), want: 400},
		{name: "type/customer array", body: order(`"customer":{"email":"adv@example.com","name":"Ada Lovelace"}`, `"customer":["adv@example.com","Ada Lovelace"]`), want: 400},
		{name: "type/currency number", body: order(cur, `"currency":978`), want: 400},
		{name: "type/order id number", body: order(`"order_id":"adv-0"`, `"order_id":42`), want: 400},
		{name: "type/address string", body: order(`{"line1":"12 Rue de Rivoli","city":"Paris","postal_code":"75001","country":"FR"}`, `"12 Rue de Rivoli, Paris"`), want: 400},
		{name: "type/amount string", body: order(`"amount_minor":1250`, `"amount_minor":"1250"`), want: 400},

		// Nulls: no field is nullable, and Go would read null as the zero
		// value, which is valid for some (a free item, a generated id).
		{name: "null/order_id", body: order(`"order_id":"adv-0"`, `"order_id":null`), want: 400},
		{name: "null/customer", body: order(`{"email":"adv@example.com","name":"Ada Lovelace"}`, `null`), want: 400},
		{name: "null/items", body: order(`[{"sku":"MUG","name":"Mug","quantity":1,"unit_price_minor":1250}]`, `null`), want: 400},
		{name: "null/currency", body: order(cur, `"currency":null`), want: 400},
		{name: "null/shipping_address", body: order(`{"line1":"12 Rue de Rivoli","city":"Paris","postal_code":"75001","country":"FR"}`, `null`), want: 400},
		{name: "null/payment", body: order(`{"method":"card","reference":"ch_1","amount_minor":1250}`, `null`), want: 400},
		{name: "null/items [null]", body: order(`[{"sku":"MUG","name":"Mug","quantity":1,"unit_price_minor":1250}]`, `[null]`), want: 400},
		{name: "null/customer.email", body: order(email, `"email":null`), want: 400},
		{name: "null/items[0].sku", body: order(sku, `"sku":null`), want: 400},
		{name: "null/items[0].quantity", body: order(qty, `"quantity":null,`), want: 400},
		{name: "null/items[0].unit_price_minor", body: order(price, `"unit_price_minor":null`), want: 400},
		{name: "null/shipping_address.country", body: order(cntry, `"country":null`), want: 400},
		{name: "null/payment.reference", body: order(`"reference":"ch_1"`, `"reference":null`), want: 400},
		{name: "null/payment.amount_minor", body: order(`"amount_minor":1250`, `"amount_minor":null`), want: 400},

		// Duplicated keys.
		// A member named twice is ambiguous (which one counts depends on the
		// parser), so it is refused as malformed JSON, whatever the values.
		{name: "dup/currency EUR then XYZ", body: order(cur, cur+`,"currency":"XYZ"`), want: 400},
		{name: "dup/quantity 1 then -1", body: order(qty, qty+`"quantity":-1,`), want: 400},
		{name: "dup/customer then a bad one", body: order(`"items"`, `"customer":{"email":"nope","name":"Eve"},"items"`), want: 400},
		{name: "dup/currency twice the same", body: order(cur, cur+`,"currency":"EUR"`), want: 400},
		// Names are case-sensitive: CURRENCY is not currency (Go matches it anyway).
		{name: "dup/key in capitals", body: order(cur, `"CURRENCY":"EUR"`), want: 400},

		// Huge numbers.
		{name: "num/quantity 1e400", body: order(qty, `"quantity":1e400,`), want: 400},
		{name: "num/quantity 2^63", body: order(qty, `"quantity":9223372036854775808,`), want: 400},
		{name: "num/quantity -2^63-1", body: order(qty, `"quantity":-9223372036854775809,`), want: 400},
		{name: "num/quantity 10001", body: order(qty, `"quantity":10001,`), want: 422, field: "items[0].quantity"},
		{name: "num/price 1e30", body: order(price, `"unit_price_minor":1e30`), want: 400},
		{name: "num/price over the bound", body: order(price, `"unit_price_minor":1000000000001`), want: 422, field: "items[0].unit_price_minor"},
		{name: "num/amount 2^63", body: order(`"amount_minor":1250`, `"amount_minor":9223372036854775808`), want: 400},

		// Negative and zero.
		{name: "num/quantity 0", body: order(qty, `"quantity":0,`), want: 422, field: "items[0].quantity"},
		{name: "num/quantity -1", body: order(qty, `"quantity":-1,`), want: 422, field: "items[0].quantity"},
		{name: "num/price -1", body: order(price, `"unit_price_minor":-1`), want: 422, field: "items[0].unit_price_minor"},
		{name: "num/amount -1", body: order(`"amount_minor":1250`, `"amount_minor":-1`), want: 422, field: "payment.amount_minor"},
		{name: "num/no items", body: order(`[{"sku":"MUG","name":"Mug","quantity":1,"unit_price_minor":1250}]`, `[]`), want: 422, field: "items"},

		// Size.
		{name: "size/10 MB body", body: tenMB, want: 413},
		{name: "size/just over 1 MiB", body: overMiB, want: 413},
		{name: "size/10 MB chunked", body: webtest.Chunked(tenMB), want: 413},
		{name: "size/501 items", body: many(501), want: 422, field: "items"},

		// Deep nesting.
		{name: "deep/10000 arrays in an unknown field", body: order(cur, cur+`,"x":`+deep), want: 400},
		{name: "deep/10000 arrays as the customer", body: order(`{"email":"adv@example.com","name":"Ada Lovelace"}`, deep), want: 400},
		{name: "deep/100000 objects in an unknown field", body: order(cur, cur+`,"x":`+deepObjects), want: 400},
		{name: "deep/rules test", path: "/v1/rules/test", body: deep, want: 400},

		// Bytes that are not UTF-8 make the body not JSON (RFC 8259 §8.1);
		// Go would quietly store U+FFFD in their place.
		{name: "utf8/invalid bytes in a name", body: order(name, "\"name\":\"Ada \xff\xfe\""), want: 400},
		{name: "utf8/truncated sequence in an item name", body: order(item, "\"name\":\"Mug \xe2\x82\""), want: 400},
		{name: "utf8/overlong slash in an address", body: order(line1, "\"line1\":\"12 \xc0\xaf Rivoli\""), want: 400},
		{name: "utf8/invalid bytes in a key", body: order(cur, "\"curr\xffency\":\"EUR\""), want: 400},
		{name: "utf8/lone surrogate escape", body: order(name, `"name":"Ada \ud800"`), want: 400}, // not a character: invalid JSON text

		// Control characters.
		{name: "ctl/NUL in a name", body: order(name, `"name":"Ada\u0000Lovelace"`), want: 422, field: "customer.name"},
		{name: "ctl/ESC in an address", body: order(line1, `"line1":"\u001b[31m12 Rue de Rivoli"`), want: 422, field: "shipping_address.line1"},
		{name: "ctl/DEL in a sku", body: order(sku, `"sku":"MUG\u007f"`), want: 422, field: "items[0].sku"},
		{name: "ctl/CSI (C1) in an item name", body: order(item, `"name":"Mug\u009b31m"`), want: 422, field: "items[0].name"},
		// Bidirectional overrides make text display in another order than it is stored.
		{name: "ctl/RTL override in a name", body: order(name, `"name":"Invoice \u202egnp.exe"`), want: 422, field: "customer.name"},
		{name: "ctl/line separator in an address", body: order(line1, `"line1":"12 Rue\u2028de Rivoli"`), want: 422, field: "shipping_address.line1"},
		{name: "ctl/header injection in the email", body: order(email, `"email":"adv@example.com\r\nBcc: all@example.com"`), want: 422, field: "customer.email"},

		// Strings the validator refuses.
		{name: "text/name of 201 characters", body: order(name, `"name":"`+strings.Repeat("é", 201)+`"`), want: 422, field: "customer.name"},
		{name: "text/blank name", body: order(name, `"name":"   "`), want: 422, field: "customer.name"},
		{name: "text/email with a display name", body: order(email, `"email":"Eve <eve@example.com>"`), want: 422, field: "customer.email"},
		{name: "text/two emails", body: order(email, `"email":"adv@example.com, eve@example.com"`), want: 422, field: "customer.email"},
		{name: "text/order id path traversal", body: order(`"order_id":"adv-0"`, `"order_id":"../../etc/passwd"`), want: 422, field: "order_id"},
		{name: "text/order id SQL", body: order(`"order_id":"adv-0"`, `"order_id":"' OR 1=1--"`), want: 422, field: "order_id"},
		{name: "text/order id of 65 characters", body: order(`"order_id":"adv-0"`, `"order_id":"`+strings.Repeat("a", 65)+`"`), want: 422, field: "order_id"},

		// Currencies and countries.
		{name: "iso/currency XYZ", body: order(cur, `"currency":"XYZ"`), want: 422, field: "currency"},
		{name: "iso/currency eur", body: order(cur, `"currency":"eur"`), want: 422, field: "currency"},
		{name: "iso/currency EURO", body: order(cur, `"currency":"EURO"`), want: 422, field: "currency"},
		{name: "iso/currency sign", body: order(cur, `"currency":"€"`), want: 422, field: "currency"},
		{name: "iso/country XX", body: order(cntry, `"country":"XX"`), want: 422, field: "shipping_address.country"},
		{name: "iso/country fr", body: order(cntry, `"country":"fr"`), want: 422, field: "shipping_address.country"},
		{name: "iso/country FRA", body: order(cntry, `"country":"FRA"`), want: 422, field: "shipping_address.country"},

		// Unknown fields.
		{name: "field/unknown at the top", body: order(cur, cur+`,"coupon":"FREE"`), want: 400},
		{name: "field/unknown in customer", body: order(name, name+`,"is_admin":true`), want: 400},
		{name: "field/unknown in an item", body: order(price, price+`,"discount_minor":1250`), want: 400},
		{name: "field/unknown in the address", body: order(cntry, cntry+`,"state":"IDF"`), want: 400},
		{name: "field/unknown in payment", body: order(`"method":"card"`, `"method":"card","card_number":"4242424242424242"`), want: 400},

		// Content types and codings.
		{name: "ctype/missing", header: []string{"-Content-Type"}, body: order(), want: 415},
		{name: "ctype/text/plain", header: []string{"Content-Type: text/plain"}, body: order(), want: 415},
		{name: "ctype/form", header: []string{"Content-Type: application/x-www-form-urlencoded"}, body: "order_id=x&currency=EUR", want: 415},
		{name: "ctype/multipart", header: []string{"Content-Type: multipart/form-data; boundary=x"}, body: "--x\r\n\r\n" + order() + "\r\n--x--\r\n", want: 415},
		{name: "ctype/application/jsonx", header: []string{"Content-Type: application/jsonx"}, body: order(), want: 415},
		{name: "ctype/gzip coding", header: []string{"Content-Encoding: gzip"}, body: gzipped(order()), want: 415},
		{name: "ctype/rules test as text", path: "/v1/rules/test", header: []string{"Content-Type: text/plain"}, body: `{}`, want: 415},

		// Methods.
		{name: "method/DELETE orders", method: "DELETE", path: "/v1/orders", want: 405},
		{name: "method/PUT an order", method: "PUT", path: "/v1/orders/adv-state", body: order(), want: 405},
		{name: "method/DELETE an order", method: "DELETE", path: "/v1/orders/adv-state", want: 405},
		{name: "method/GET a state", method: "GET", path: state, want: 405},
		{name: "method/POST stock", method: "POST", path: "/v1/inventory/MUG", body: `{"on_hand":1}`, want: 405},
		{name: "method/POST healthz", method: "POST", path: "/healthz", want: 405},
		{name: "method/TRACE orders", method: "TRACE", path: "/v1/orders", want: 405},

		// Keys and authorization headers.
		{name: "auth/none", header: []string{"-Authorization"}, body: order(), want: 401},
		{name: "auth/empty bearer", header: []string{key}, body: order(), want: 401},
		{name: "auth/bearer alone", header: []string{"Authorization: Bearer"}, body: order(), want: 401},
		{name: "auth/basic", header: []string{"Authorization: Basic YWRtaW46YWRtaW4="}, body: order(), want: 401},
		{name: "auth/other scheme", header: []string{"Authorization: Token " + admin}, body: order(), want: 401},
		{name: "auth/key with a space", header: []string{key + admin[:8] + " " + admin[8:]}, body: order(), want: 401},
		{name: "auth/key in capitals", header: []string{key + strings.ToUpper(admin)}, body: order(), want: 401},
		{name: "auth/key prefix only", header: []string{key + admin[:8]}, body: order(), want: 401},
		{name: "auth/key plus a byte", header: []string{key + admin + "x"}, body: order(), want: 401},
		{name: "auth/10 KB key", header: []string{key + strings.Repeat("k", 10<<10)}, body: order(), want: 401},
		{name: "auth/SQL key", header: []string{key + "' OR '1'='1"}, body: order(), want: 401},
		{name: "auth/full-width key", header: []string{key + "ｓｂ_ｔｅｓｔ_0123456789abcdef"}, body: order(), want: 401},
		{name: "auth/wrong X-API-Key beside a good bearer", header: []string{"X-API-Key: sb_live_wrong"}, body: order(), want: 401},
		{name: "auth/read with no key", method: "GET", path: "/v1/orders/adv-state", header: []string{"-Authorization"}, want: 401},

		// Idempotency keys.
		{name: "idem/empty", header: []string{"Idempotency-Key: "}, body: order(), want: 400},
		{name: "idem/256 characters", header: []string{"Idempotency-Key: " + strings.Repeat("i", 256)}, body: order(), want: 400},
		{name: "idem/not ASCII", header: []string{"Idempotency-Key: ключ"}, body: order(), want: 400},
		{name: "idem/tab inside", header: []string{"Idempotency-Key: a\tb"}, body: order(), want: 400},
		{name: "idem/two keys", header: []string{"Idempotency-Key: a", "Idempotency-Key: b"}, body: order(), want: 400},
		// Stripe saves no result for a request that fails validation.
		{name: "idem/good key with a bad body", header: []string{"Idempotency-Key: adv-idem-1"}, body: `{"order_id":`, want: 400},

		// Paths and ids.
		{name: "path/traversal", method: "GET", path: "/v1/orders/../../etc/passwd", want: 404},
		{name: "path/encoded traversal", method: "GET", path: "/v1/orders/..%2F..%2Fetc%2Fpasswd", want: 404},
		{name: "path/SQL id", method: "GET", path: "/v1/orders/%27%20OR%20%271%27%3D%271", want: 404},
		{name: "path/NUL id", method: "GET", path: "/v1/orders/%00", want: 404},
		{name: "path/stock traversal", method: "GET", path: "/v1/inventory/..%2F..%2Fetc%2Fpasswd", want: 404},
		{name: "path/dead letter not a number", method: "GET", path: "/v1/dlq/abc", want: 404},
		{name: "path/dead letter over int64", method: "GET", path: "/v1/dlq/99999999999999999999", want: 404},
		{name: "path/state of an unknown order", path: "/v1/orders/%00/state", body: `{"order_state":"order_paid"}`, want: 404},
		{name: "path/stock for a NUL sku", method: "PUT", path: "/v1/inventory/%00", body: `{"on_hand":1}`, want: 422},
		{name: "path/stock for an ESC sku", method: "PUT", path: "/v1/inventory/%1B%5B31mMUG", body: `{"on_hand":1}`, want: 422},
		{name: "path/stock for a 201-character sku", method: "PUT", path: "/v1/inventory/" + strings.Repeat("S", 201), body: `{"on_hand":1}`, want: 422},
		// A NUL is where PostgreSQL's text ends: no query may carry one.
		{name: "path/NUL sku", method: "GET", path: "/v1/inventory/%00", want: 404},
		{name: "path/NUL key name", method: "DELETE", path: "/v1/apikeys/%00", want: 404},
		{name: "query/NUL after", method: "GET", path: "/v1/orders?after=%00", want: 404},

		// Query strings.
		{name: "query/limit 999999", method: "GET", path: "/v1/orders?limit=999999", want: 422, field: "limit"},
		{name: "query/limit -1", method: "GET", path: "/v1/orders?limit=-1", want: 422, field: "limit"},
		{name: "query/limit abc", method: "GET", path: "/v1/orders?limit=abc", want: 422, field: "limit"},
		{name: "query/limit 1e3", method: "GET", path: "/v1/orders?limit=1e3", want: 422, field: "limit"},
		{name: "query/limit 2^63", method: "GET", path: "/v1/orders?limit=9223372036854775808", want: 422, field: "limit"},
		{name: "query/dead letter limit 1001", method: "GET", path: "/v1/dlq?limit=1001", want: 422, field: "limit"},

		// State changes.
		{name: "state/unknown", path: state, body: `{"order_state":"order_lost"}`, want: 422, field: "order_state"},
		{name: "state/capitals", path: state, body: `{"order_state":"ORDER_PAID"}`, want: 422, field: "order_state"},
		{name: "state/padded", path: state, body: `{"order_state":" order_paid"}`, want: 422, field: "order_state"},
		{name: "state/SQL", path: state, body: `{"order_state":"order_paid' OR '1'='1"}`, want: 422, field: "order_state"},
		{name: "state/missing", path: state, body: `{}`, want: 422, field: "order_state"},
		{name: "state/null", path: state, body: `{"order_state":null}`, want: 400},
		{name: "state/number", path: state, body: `{"order_state":2}`, want: 400},
		{name: "state/array", path: state, body: `{"order_state":["order_paid"]}`, want: 400},
		{name: "state/bare string", path: state, body: `"order_paid"`, want: 400},
		{name: "state/unknown field", path: state, body: `{"order_state":"order_paid","force":true}`, want: 400},
		{name: "state/key in capitals", path: state, body: `{"Order_State":"order_cancelled"}`, want: 400},
		{name: "state/malformed", path: state, body: `{"order_state":"order_paid"`, want: 400},
		{name: "state/back to created", path: state, body: `{"order_state":"new_order_created"}`, want: 409},

		// Stock and dead-letter bodies.
		{name: "stock/string", method: "PUT", path: "/v1/inventory/MUG", body: `{"on_hand":"5"}`, want: 400},
		{name: "stock/float", method: "PUT", path: "/v1/inventory/MUG", body: `{"on_hand":1.5}`, want: 400},
		{name: "stock/null", method: "PUT", path: "/v1/inventory/MUG", body: `{"on_hand":null}`, want: 400},
		{name: "stock/1e400", method: "PUT", path: "/v1/inventory/MUG", body: `{"on_hand":1e400}`, want: 400},
		{name: "stock/negative", method: "PUT", path: "/v1/inventory/MUG", body: `{"on_hand":-1}`, want: 422, field: "on_hand"},
		{name: "stock/missing", method: "PUT", path: "/v1/inventory/MUG", body: `{}`, want: 422, field: "on_hand"},
		{name: "redrive/ids a string", path: "/v1/dlq/redrive", body: `{"ids":"all"}`, want: 400},
		{name: "redrive/all a string", path: "/v1/dlq/redrive", body: `{"all":"yes"}`, want: 400},
		{name: "redrive/nothing named", path: "/v1/dlq/redrive", body: `{}`, want: 422},
		{name: "redrive/unknown id", path: "/v1/dlq/redrive", body: `{"ids":[-1]}`, want: 404},

		// A request id the client makes up is not echoed back at any length.
		{name: "header/10 KB request id", header: []string{"X-Request-ID: " + strings.Repeat("r", 10<<10)}, body: `{`, want: 400},
	}
	if len(tests) < 70 {
		t.Fatalf("only %d cases", len(tests))
	}
	// Failed authentications are throttled per address (20 at once by
	// default); past that a 401 case would meet a 429 instead.
	if n := countWant(tests, 401); n >= 18 {
		t.Fatalf("%d cases fail authentication; keep them under 18", n)
	}

	var scenarios []webtest.Scenario
	for _, tc := range tests {
		sc := webtest.Scenario{Name: tc.name, Method: cmp.Or(tc.method, "POST"), URL: cmp.Or(tc.path, "/v1/orders"), Key: admin,
			Headers: tc.header, Body: tc.body, Status: tc.want, Unchanged: true}
		if tc.field != "" {
			sc.Fields = []string{tc.field}
		}
		scenarios = append(scenarios, sc)
	}
	s.Run(t, scenarios...)

	// Raw bytes that net/http answers itself, before shopbus sees them: no
	// problem+json is possible there, but they must be refused and harmless.
	for _, tc := range []struct{ name, raw string }{
		{"raw/control byte in the key", "POST /v1/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + admin + "\x01\r\nContent-Type: application/json\r\n" + withLength(order())},
		{"raw/NUL in the key", "POST /v1/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \x00" + admin + "\r\nContent-Type: application/json\r\n" + withLength(order())},
		{"raw/headers over 1 MB", "GET /v1/orders HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("p", 1<<20+1) + "\r\n\r\n"},
		{"raw/no Host", "POST /v1/orders HTTP/1.1\r\nAuthorization: Bearer " + admin + "\r\nContent-Type: application/json\r\n" + withLength(order())},
		{"raw/two Content-Lengths", "POST /v1/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + admin + "\r\nContent-Type: application/json\r\nContent-Length: 5\r\n" + withLength(order())},
		{"raw/garbage request line", "GIVE ME /etc/passwd PLEASE\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.RowCounts(t)
			status := rawStatus(t, s.URL, tc.raw)
			t.Logf("net/http answered %d", status)
			if status < 400 || status > 499 {
				t.Errorf("status %d, want a 4xx", status)
			}
			if after := s.RowCounts(t); after != before {
				t.Errorf("rows written:\nbefore %s\nafter  %s", before, after)
			}
		})
	}

	// Nothing moved in the background either, and the server still serves.
	if final := s.Settled(t); final != initial {
		t.Errorf("rows changed over the suite:\nbefore %s\nafter  %s", initial, final)
	}
	good := strings.Replace(validOrder, `"adv-0"`, `"adv-ok"`, 1)
	s.Run(t,
		webtest.Scenario{Name: "healthz after", URL: "/healthz", Status: 200},
		webtest.Scenario{Name: "a good order after", Key: admin, URL: "/v1/orders", Body: good, Status: http.StatusCreated})
}

// withLength ends a raw request's headers with the body's length, then the body.
func withLength(body string) string {
	return fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body)
}

// rawStatus writes raw bytes to the server and returns the status it answers.
func rawStatus(t *testing.T, base, raw string) int {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(conn, raw) // the server may answer and close before reading it all
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func countWant(tests []advCase, status int) int {
	n := 0
	for _, tc := range tests {
		if tc.want == status {
			n++
		}
	}
	return n
}

func gzipped(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = io.WriteString(w, s)
	_ = w.Close()
	return b.Bytes()
}

// TestNULNamesNothing: a NUL in a name the API filters by finds nothing,
// as any unknown name does, whatever the engine (PostgreSQL's text cannot
// hold one, so it must never reach a query).
func TestNULNamesNothing(t *testing.T) {
	t.Parallel()
	webtest.New(t, webtest.Options{}).Run(t,
		webtest.Scenario{Name: "dead letters of a NUL target", Key: admin, URL: "/v1/dlq?target=%00", Status: http.StatusOK,
			Contains: []string{`"dead_letters":[]`}},
		webtest.Scenario{Name: "redrive a NUL target", Key: admin, URL: "/v1/dlq/redrive", Body: map[string]string{"target": "\x00"},
			Status: http.StatusOK, Contains: []string{`"redriven":0`}},
	)
}
