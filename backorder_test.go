package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopbus/shopbus/modules/email/smtptest"
)

// orderRecords is what GET /v1/orders/{id} says the modules recorded.
type orderRecords struct {
	OrderState string `json:"order_state"`
	Stock      *struct {
		Status  string `json:"status"`
		Missing []struct {
			SKU      string `json:"sku"`
			Quantity int64  `json:"quantity"`
		} `json:"missing"`
	} `json:"stock"`
	Shipment *struct {
		Status          string `json:"status"`
		RateMinor       int64  `json:"rate_minor"`
		ChargedMinor    *int64 `json:"charged_minor"`
		DifferenceMinor *int64 `json:"difference_minor"`
		Carrier         string `json:"carrier"`
		TrackingNumber  string `json:"tracking_number"`
		TrackingURL     string `json:"tracking_url"`
	} `json:"shipment"`
	Payment struct {
		Method          string `json:"method"`
		Status          string `json:"status"`
		AuthorizedMinor int64  `json:"authorized_minor"`
		CapturedMinor   int64  `json:"captured_minor"`
		RefundedMinor   int64  `json:"refunded_minor"`
	} `json:"payment"`
}

func (s *shop) records(id string) orderRecords {
	s.t.Helper()
	return must[orderRecords](s.t, http.StatusOK)(s.request("GET", "/v1/orders/"+id, nil))
}

// stockIs waits until the order's stock has the status and the missing
// lines ("SKU:qty", in SKU order).
func (s *shop) stockIs(id, status string, missing ...string) {
	s.t.Helper()
	waitFor(s.t, id+" stock "+status, 20*time.Second, func() (bool, string) {
		r := s.records(id)
		if r.Stock == nil {
			return false, "no stock record"
		}
		var got []string
		for _, m := range r.Stock.Missing {
			got = append(got, fmt.Sprintf("%s:%d", m.SKU, m.Quantity))
		}
		return r.Stock.Status == status && strings.Join(got, ",") == strings.Join(missing, ","),
			fmt.Sprintf("%s missing %v", r.Stock.Status, got)
	})
}

// eventsOf counts an order's events of a detail-type.
func (s *shop) eventsOf(id, detailType string) int {
	s.t.Helper()
	var n int
	queryRow(s.t, s.cfg.Database, fmt.Sprintf(`SELECT COUNT(*) FROM bus_events WHERE order_id = '%s' AND detail_type = '%s'`, id, detailType), &n)
	return n
}

// mailTo waits for a message to addr whose subject holds subject, and
// returns it.
func mailTo(t *testing.T, mail *smtptest.Server, addr, subject string) smtptest.Parsed {
	t.Helper()
	var found smtptest.Parsed
	waitFor(t, "mail to "+addr+" about "+subject, 20*time.Second, func() (bool, string) {
		var seen []string
		for _, m := range mail.Messages() {
			p, err := smtptest.Parse(m.Data)
			if err != nil {
				t.Fatal(err)
			}
			seen = append(seen, p.Subject)
			if len(m.To) == 1 && m.To[0] == addr && strings.Contains(p.Subject, subject) {
				found = p
				return true, ""
			}
		}
		return false, fmt.Sprint(seen)
	})
	return found
}

// TestBackorderJourney is the short week the issue tells of: stock for
// MUG-WHT only, an order for 3 MUG-WHT and 1 TEE-L. The order is visibly
// backordered, the owner and the customer are told, `stock set TEE-L 10`
// reserves it, and shipping it takes the 3 mugs off the shelf (24 to 21).
// A second order waits for more than arrives, ships anyway and takes what
// there is, never below zero; a third is reserved by PUT /v1/inventory.
func TestBackorderJourney(t *testing.T) {
	mail := smtptest.Start(t, "127.0.0.1:0")
	s := startShop(t, testConfig(t, mail.Addr()), mail)
	useDatabase(t, s.cfg.Database)
	s.setStock("MUG-WHT", 24)

	must[map[string]string](t, http.StatusCreated)(s.request("POST", "/v1/orders", newOrder("ord-b1", "ada@example.com", "MUG-WHT", 3, "TEE-L", 1)))
	s.stockIs("ord-b1", "backordered", "TEE-L:1")
	if st := s.stock("MUG-WHT"); st.Reserved != 0 || st.OnHand != 24 {
		t.Errorf("MUG-WHT %+v: a backordered order holds nothing", st)
	}
	alert := mailTo(t, mail, s.cfg.Mail.OwnerEmail, "Inventory shortage for order ord-b1")
	if !strings.Contains(alert.Text, "TEE-L: requested 1, available 0") {
		t.Errorf("the owner's alert:\n%s", alert.Text)
	}
	notice := mailTo(t, mail, "ada@example.com", "waits for stock")
	if !strings.Contains(notice.Text, "Item TEE-L (TEE-L)") || strings.Contains(notice.Text, "MUG-WHT") {
		t.Errorf("the customer's backorder notice names what is missing, and only that:\n%s", notice.Text)
	}
	if n := s.eventsOf("ord-b1", "Inventory Shortage"); n != 1 {
		t.Errorf("%d shortage events", n)
	}
	if n := s.eventsOf("ord-b1", "Stock Reserved"); n != 0 {
		t.Errorf("%d Stock Reserved events for a backordered order", n)
	}

	code, out, errOut := runCLI(t, "stock", "set", "TEE-L", "10")
	if code != 0 || !strings.Contains(out, "TEE-L: on hand 10, reserved 1, available 9") {
		t.Fatalf("stock set: exit %d\n%s%s", code, out, errOut)
	}
	s.stockIs("ord-b1", "reserved")
	if n := s.eventsOf("ord-b1", "Stock Reserved"); n != 1 {
		t.Errorf("%d Stock Reserved events after the stock arrived", n)
	}
	mailTo(t, mail, "ada@example.com", "is in stock")
	if st := s.stock("MUG-WHT"); st.Reserved != 3 {
		t.Errorf("MUG-WHT %+v, want 3 reserved", st)
	}
	must[map[string]string](t, http.StatusOK)(s.request("POST", "/v1/orders/ord-b1/state", map[string]string{"order_state": "order_shipped"}))
	s.stockIs("ord-b1", "settled")
	if st := s.stock("MUG-WHT"); st.OnHand != 21 || st.Reserved != 0 {
		t.Errorf("after shipping, MUG-WHT %+v, want 21 on hand", st)
	}
	if st := s.stock("TEE-L"); st.OnHand != 9 || st.Reserved != 0 {
		t.Errorf("after shipping, TEE-L %+v, want 9 on hand", st)
	}

	// Shipped while it waits for more than there is: it takes the 9 left
	// and records the 11 it shipped without.
	must[map[string]string](t, http.StatusCreated)(s.request("POST", "/v1/orders", newOrder("ord-b2", "bob@example.com", "TEE-L", 20)))
	s.stockIs("ord-b2", "backordered", "TEE-L:11")
	if st := s.stock("TEE-L"); st.Backordered != 20 || st.WaitingOrders != 1 {
		t.Errorf("TEE-L %+v, want 20 backordered for 1 order", st)
	}
	if code, out, errOut := runCLI(t, "stock", "set", "TEE-L", "9"); code != 0 || !strings.Contains(out, "1 backordered order(s) still wait, for 20 in all") {
		t.Errorf("stock set with an order still waiting: exit %d\n%s%s", code, out, errOut)
	}
	must[map[string]string](t, http.StatusOK)(s.request("POST", "/v1/orders/ord-b2/state", map[string]string{"order_state": "order_shipped"}))
	s.stockIs("ord-b2", "settled", "TEE-L:11")
	if st := s.stock("TEE-L"); st.OnHand != 0 || st.Available != 0 || st.WaitingOrders != 0 {
		t.Errorf("TEE-L %+v, want none left and none waiting", st)
	}

	// PUT is the other way stock arrives.
	must[map[string]string](t, http.StatusCreated)(s.request("POST", "/v1/orders", newOrder("ord-b3", "cy@example.com", "MUG-WHT", 30)))
	s.stockIs("ord-b3", "backordered", "MUG-WHT:9")
	st := must[stock](t, http.StatusOK)(s.request("PUT", "/v1/inventory/MUG-WHT", map[string]int64{"on_hand": 40}))
	if st.OnHand != 40 || st.Reserved != 30 || st.Available != 10 {
		t.Errorf("PUT answered %+v, want ord-b3's 30 reserved", st)
	}
	s.stockIs("ord-b3", "reserved")
	// Cancelled, its units go back.
	must[map[string]string](t, http.StatusOK)(s.request("POST", "/v1/orders/ord-b3/state", map[string]string{"order_state": "order_cancelled"}))
	s.stockIs("ord-b3", "released")
	waitFor(t, "MUG-WHT released", 20*time.Second, func() (bool, string) {
		st := s.stock("MUG-WHT")
		return st.Reserved == 0 && st.Available == 40, fmt.Sprintf("%+v", st)
	})
}

// TestReleaseReservesWaitingOrder: units a cancellation gives back are
// reserved for the order that waits for them, without anyone setting
// stock: the sweeper runs when the cancellation's delivery commits.
func TestReleaseReservesWaitingOrder(t *testing.T) {
	mail := smtptest.Start(t, "127.0.0.1:0")
	s := startShop(t, testConfig(t, mail.Addr()), mail)
	s.setStock("MUG", 2)
	must[map[string]string](t, http.StatusCreated)(s.request("POST", "/v1/orders", newOrder("ord-r1", "a@example.com", "MUG", 2)))
	s.stockIs("ord-r1", "reserved")
	must[map[string]string](t, http.StatusCreated)(s.request("POST", "/v1/orders", newOrder("ord-r2", "b@example.com", "MUG", 2)))
	s.stockIs("ord-r2", "backordered", "MUG:2")
	must[map[string]string](t, http.StatusOK)(s.request("POST", "/v1/orders/ord-r1/state", map[string]string{"order_state": "order_cancelled"}))
	s.stockIs("ord-r2", "reserved")
	if st := s.stock("MUG"); st.Reserved != 2 || st.OnHand != 2 {
		t.Errorf("MUG %+v, want ord-r2's 2 reserved", st)
	}
}
