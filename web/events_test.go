package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/bus/transform"
	"github.com/shopbus/shopbus/bus/webhook"
	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/web"
	"github.com/shopbus/shopbus/web/webtest"
)

// putResult is PutEvents' response as EventBridge's API reference has it.
type putResult struct {
	FailedEntryCount int
	Entries          []struct {
		EventId      string
		ErrorCode    string
		ErrorMessage string
	}
}

// The Java example of EventBridge's guide: a source, a detail-type, a
// detail of two keys, two resources.
func guideEntry() map[string]any {
	return map[string]any{"Source": "com.mycompany.myapp", "DetailType": "myDetailType",
		"Detail": `{ "key1": "value1", "key2": "value2" }`, "Resources": []string{"resource1", "resource2"}}
}

// TestPutEvents: entries in PutEvents' shape are put on the bus, each
// answered in order with its EventId, or with EventBridge's ErrorCode and
// ErrorMessage when it alone is refused; shopbus's own sources are
// refused to others.
func TestPutEvents(t *testing.T) {
	t.Parallel()
	s := webtest.New(t, webtest.Options{})
	key := s.Key("warehouse", web.ScopeEventsPut)
	storefront := s.Key("storefront", web.ScopeOrdersWrite)

	two := map[string]any{"Entries": []any{guideEntry(), guideEntry()}}
	s.Run(t, webtest.Scenario{Name: "a key without events:put", URL: "/v1/events", Key: storefront, Body: two, Status: 403, Unchanged: true})
	r := webtest.Decode[putResult](t, http.StatusOK, s.Request(t, "POST", "/v1/events", two, key))
	if r.FailedEntryCount != 0 || len(r.Entries) != 2 || r.Entries[0].EventId == "" || r.Entries[0].EventId == r.Entries[1].EventId {
		t.Fatalf("two identical events: %+v", r)
	}
	var stored bus.Event
	var body string
	if err := s.DB.Raw(`SELECT body FROM bus_events WHERE id = ?`, r.Entries[0].EventId).Scan(&body).Error; err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(body), &stored); err != nil {
		t.Fatal(err)
	}
	if stored.Source != "com.mycompany.myapp" || stored.DetailType != "myDetailType" || string(stored.Detail) != `{"key1":"value1","key2":"value2"}` ||
		strings.Join(stored.Resources, ",") != "resource1,resource2" || time.Since(stored.Time) > time.Minute {
		t.Errorf("stored %+v", stored)
	}

	entry := func(edit func(e map[string]any)) map[string]any {
		e := guideEntry()
		edit(e)
		return e
	}
	entries := []any{
		entry(func(e map[string]any) { e["Time"] = 1767225600 }), // 2026-01-01, as the SDKs send it
		entry(func(e map[string]any) { delete(e, "Source") }),
		entry(func(e map[string]any) { e["Detail"] = "{not json" }),
		entry(func(e map[string]any) { e["Detail"] = "[1, 2]" }),
		entry(func(e map[string]any) { e["Source"] = "shopbus.checkout"; e["DetailType"] = "Order State Change" }),
		entry(func(e map[string]any) { e["Source"] = "Shopbus.Inventory" }),
		entry(func(e map[string]any) { delete(e, "Detail") }),
		entry(func(e map[string]any) { e["EventBusName"] = "orders-bus" }),
		entry(func(e map[string]any) { e["Time"] = "2026-01-02T03:04:05Z"; e["EventBusName"] = "default" }),
		entry(func(e map[string]any) { e["Time"] = "yesterday" }),
	}
	r = webtest.Decode[putResult](t, http.StatusOK, s.Request(t, "POST", "/v1/events", map[string]any{"Entries": entries}, key))
	want := []struct{ code, message string }{
		{"", ""},
		{"InvalidArgument", "Parameter Source is not valid. Reason: Source is a required argument."},
		{"MalformedDetail", "Detail is malformed."},
		{"MalformedDetail", "Detail is malformed."},
		{"NotAuthorizedForSourceException", "shopbus's own modules"},
		{"NotAuthorizedForSourceException", "shopbus's own modules"},
		{"InvalidArgument", "Parameter Detail is not valid. Reason: Detail is a required argument."},
		{"InvalidArgument", "Parameter EventBusName is not valid."},
		{"", ""},
		{"InvalidArgument", "Parameter Time is not valid."},
	}
	if r.FailedEntryCount != 8 || len(r.Entries) != len(want) {
		t.Fatalf("FailedEntryCount %d of %d, want 8 of %d", r.FailedEntryCount, len(r.Entries), len(want))
	}
	for i, w := range want {
		got := r.Entries[i]
		if got.ErrorCode != w.code || !strings.Contains(got.ErrorMessage, w.message) || (w.code == "") != (got.EventId != "") {
			t.Errorf("entry %d: %+v, want %q %q", i, got, w.code, w.message)
		}
	}
	// The envelope keeps each entry's Time; the row's created_at is when
	// the shop wrote it (lag and retention count from it).
	var bodies []string
	if err := s.DB.Raw(`SELECT body FROM bus_events WHERE id IN (?, ?) ORDER BY seq`, r.Entries[0].EventId, r.Entries[8].EventId).
		Scan(&bodies).Error; err != nil || len(bodies) != 2 {
		t.Fatalf("bodies %v, %v", bodies, err)
	}
	var times []time.Time
	for _, b := range bodies {
		var ev struct{ Time time.Time }
		if err := json.Unmarshal([]byte(b), &ev); err != nil {
			t.Fatal(err)
		}
		times = append(times, ev.Time)
	}
	if !times[0].Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) || !times[1].Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("the entries' Time: %v", times)
	}
	var old int64
	if err := s.DB.Raw(`SELECT COUNT(*) FROM bus_events WHERE created_at < ?`, time.Now().Add(-time.Minute).UTC()).Scan(&old).Error; err != nil || old != 0 {
		t.Errorf("%d events recorded as written before the test (%v): created_at is when the shop wrote an event", old, err)
	}
	if n := s.Count(t, "bus_events WHERE source LIKE 'shopbus.%' OR source LIKE 'Shopbus.%'"); n != 0 {
		t.Errorf("%d events under shopbus's own sources", n)
	}

	big := strings.Repeat("x", 130*1024)
	huge := entry(func(e map[string]any) { e["Detail"] = `{"blob":"` + big + `"}` })
	eleven := make([]any, 11)
	for i := range eleven {
		eleven[i] = guideEntry()
	}
	s.Run(t,
		webtest.Scenario{Name: "eleven entries", URL: "/v1/events", Key: key, Body: map[string]any{"Entries": eleven}, Status: 400, Unchanged: true},
		webtest.Scenario{Name: "no entries", URL: "/v1/events", Key: key, Body: map[string]any{"Entries": []any{}}, Status: 400, Unchanged: true},
		webtest.Scenario{Name: "over 256 KB in all", URL: "/v1/events", Key: key, Body: map[string]any{"Entries": []any{huge, huge}}, Status: 400,
			Contains: []string{"262144"}, Unchanged: true},
		webtest.Scenario{Name: "one of 130 KB", URL: "/v1/events", Key: key, Body: map[string]any{"Entries": []any{huge}}, Status: 200,
			JSON: map[string]any{"/FailedEntryCount": 0.0}},
		webtest.Scenario{Name: "a member EventBridge does not have", URL: "/v1/events", Key: key,
			Body: map[string]any{"Entries": []any{entry(func(e map[string]any) { e["Priority"] = 1 })}}, Status: 400, Unchanged: true},
	)

	// A retry with the same Idempotency-Key puts nothing twice.
	before := s.Count(t, "bus_events")
	first := s.Request(t, "POST", "/v1/events", map[string]any{"Entries": []any{guideEntry()}}, key, "Idempotency-Key: put-1")
	again := s.Request(t, "POST", "/v1/events", map[string]any{"Entries": []any{guideEntry()}}, key, "Idempotency-Key: put-1")
	if string(first.Body) != string(again.Body) || s.Count(t, "bus_events") != before+1 {
		t.Errorf("a retried PutEvents: %s then %s, %d events added", first, again, s.Count(t, "bus_events")-before)
	}
}

// TestPutEventsRouted: what another system puts goes through the rules as
// shopbus's own events do, with the bus's account and region: here a
// warehouse's Shipment Delivered reaches the shop's ERP by webhook.
func TestPutEventsRouted(t *testing.T) {
	t.Parallel()
	got := make(chan []byte, 4)
	erp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- body
	}))
	t.Cleanup(erp.Close)
	s := webtest.New(t, webtest.Options{Run: true, Config: func(c *config.Config) {
		c.Bus.Account, c.Bus.Region = "123456789012", "eu-west-1"
		c.Rules = append(c.Rules, bus.RuleConfig{Name: "deliveries-to-erp",
			Pattern: map[string]any{"source": []any{"com.warehouse"}, "detail-type": []any{"Shipment Delivered"}, "account": []any{"123456789012"}},
			Targets: []bus.TargetConfig{{Webhook: &webhook.Config{URL: erp.URL}, Spec: transform.Spec{
				InputPathsMap: map[string]string{"order": "$.detail.order_id"},
				InputTemplate: `{"order": <order>, "event": <aws.events.event>}`}}}})
	}})
	key := s.Key("warehouse", web.ScopeEventsPut)
	r := webtest.Decode[putResult](t, http.StatusOK, s.Request(t, "POST", "/v1/events", map[string]any{"Entries": []any{
		map[string]any{"Source": "com.warehouse", "DetailType": "Shipment Delivered", "Detail": `{"order_id":"ord-9","parcel":"JD0142"}`},
		map[string]any{"Source": "com.warehouse", "DetailType": "Shipment Lost", "Detail": `{"order_id":"ord-9"}`},
	}}, key))
	if r.FailedEntryCount != 0 {
		t.Fatalf("%+v", r)
	}
	select {
	case body := <-got:
		var p struct {
			Order string
			Event map[string]any
		}
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		if p.Order != "ord-9" || p.Event["id"] != r.Entries[0].EventId || p.Event["account"] != "123456789012" || p.Event["region"] != "eu-west-1" ||
			p.Event["source"] != "com.warehouse" {
			t.Errorf("the ERP received %s", body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the ERP received nothing")
	}
	webtest.WaitFor(t, "the events routed", 10*time.Second, func() (bool, string) {
		n := s.Count(t, "bus_events WHERE routed_at IS NULL")
		return n == 0, "unrouted"
	})
	select {
	case body := <-got:
		t.Errorf("the ERP received an event no rule sends it: %s", body)
	default:
	}
}
