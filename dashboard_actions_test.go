package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shopbus/shopbus/modules/email/smtptest"
)

// TestDashboardActionsInBrowser drives the owner's hands in a real
// Chromium against a real shopbus: a backordered order is marked on the
// list and its page, stock set on the inventory page reserves it, and the
// order page's buttons mark it paid, ship it with tracking, mark it
// delivered and refund part of it, while the page shows what payment,
// shipping and inventory recorded; another order is cancelled. Every form
// carries the session's token; each move goes through checkout's state
// machine. Screenshots go where TestDashboardInBrowser's go.
func TestDashboardActionsInBrowser(t *testing.T) {
	ctx := newBrowser(t)
	shots := screenshotDir(t)
	mail := smtptest.Start(t, "127.0.0.1:0")
	s := startShop(t, testConfig(t, mail.Addr()), mail)
	s.setStock("MUG", 5)
	// Free shipping, against a rate table that asks 4.90: flagged.
	must[map[string]string](t, http.StatusCreated)(s.request("POST", "/v1/orders", newOrder("ord-2001", "jane@example.com", "MUG", 2, "TEE", 1)))
	must[map[string]string](t, http.StatusCreated)(s.request("POST", "/v1/orders", newOrder("ord-2002", "sam@example.org", "MUG", 1)))
	s.stockIs("ord-2001", "backordered", "TEE:1")
	s.stockIs("ord-2002", "reserved")

	step(t, ctx, "log in", chromedp.Navigate(s.url+"/dashboard/orders"), chromedp.WaitVisible(chromedp.ID("key")),
		chromedp.SendKeys(chromedp.ID("key"), testKey), chromedp.Submit(chromedp.ID("key")),
		chromedp.WaitVisible(chromedp.ID("order-ord-2001")))
	step(t, ctx, "see the backordered order marked", chromedp.WaitVisible(chromedp.CSS(`#order-ord-2001 .stock-backordered`)))
	if n := value(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#order-ord-2002 .stock-backordered").length`)); n != 0 {
		t.Error("the reserved order is marked backordered")
	}
	shot(t, ctx, shots, "orders-backordered")

	step(t, ctx, "open the backordered order", chromedp.Click(chromedp.CSS(`#order-ord-2001 a`)), chromedp.WaitVisible(chromedp.ID("stock-record")))
	if text := value(t, ctx, chromedp.Text(chromedp.ID("stock-record"))); !strings.Contains(text, "backordered") || !strings.Contains(text, "waits for: 1 × TEE") {
		t.Errorf("the stock record shows %q, want backordered, waiting for 1 × TEE", text)
	}
	if text := value(t, ctx, chromedp.Text(chromedp.ID("shipping-difference"))); !strings.Contains(text, "4.90 EUR less than the rate") {
		t.Errorf("the shipping flag says %q", text)
	}
	shot(t, ctx, shots, "order-backordered")

	// Stock arrives through the inventory page's form.
	step(t, ctx, "set stock on the inventory page", chromedp.Click(chromedp.CSS(`nav a[href="/dashboard/inventory"]`)),
		chromedp.WaitVisible(chromedp.ID("add-stock")), chromedp.SendKeys(chromedp.ID("new-sku"), "TEE"),
		chromedp.SendKeys(chromedp.ID("new-on-hand"), "4"), chromedp.Submit(chromedp.ID("new-on-hand")),
		chromedp.WaitVisible(chromedp.ID("stock-set")))
	if text := value(t, ctx, chromedp.Text(chromedp.ID("stock-set"))); !strings.Contains(text, "TEE: on hand 4, 1 reserved, 3 available") {
		t.Errorf("the inventory page says %q", text)
	}
	shot(t, ctx, shots, "inventory-set")

	page := s.url + "/dashboard/orders/ord-2001"
	step(t, ctx, "see the order reserved", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.ID("act-paid")))
	if text := value(t, ctx, chromedp.Text(chromedp.ID("stock-record"))); !strings.Contains(text, "reserved") {
		t.Errorf("after the stock arrived the record shows %q", text)
	}

	// moved waits for the page an action returns to, naming the state: a
	// query, which outlives the navigation the form's submission starts.
	moved := func(state string) chromedp.Action[chromedp.Void] {
		return chromedp.WaitVisible(chromedp.CSS(`#moved[data-state="` + state + `"]`))
	}
	recorded := func(id, text string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](`(document.getElementById("`+id+`") || {textContent: ""}).textContent.includes("`+text+`")`,
			chromedp.WithPollingTimeout(20*time.Second))
	}
	step(t, ctx, "mark it paid", chromedp.Click(chromedp.ID("act-paid")), moved("order_paid"),
		recorded("payment-record", "captured 37.50 EUR"))
	step(t, ctx, "ship it with tracking", chromedp.SendKeys(chromedp.ID("carrier"), "DHL"),
		chromedp.SendKeys(chromedp.ID("tracking-number-in"), "JD0142"),
		chromedp.SendKeys(chromedp.ID("tracking-url"), "https://track.example/JD0142"),
		chromedp.Click(chromedp.ID("act-ship")), moved("order_shipped"),
		recorded("shipment-record", "shipped"), recorded("stock-record", "settled"))
	if href := value(t, ctx, chromedp.AttributeValue(chromedp.ID("tracking-link"), "href")); href.Value != "https://track.example/JD0142" {
		t.Errorf("the tracking link is %q", href.Value)
	}
	if text := value(t, ctx, chromedp.Text(chromedp.ID("shipment-record"))); !strings.Contains(text, "DHL") || !strings.Contains(text, "JD0142") {
		t.Errorf("the shipment record shows %q", text)
	}
	shot(t, ctx, shots, "order-shipped")
	step(t, ctx, "mark it delivered", chromedp.Click(chromedp.ID("act-delivered")), moved("order_delivered"),
		recorded("shipment-record", "delivered"))
	step(t, ctx, "refund part of it", chromedp.WaitVisible(chromedp.ID("refund-amount")), chromedp.Clear(chromedp.ID("refund-amount")),
		chromedp.SendKeys(chromedp.ID("refund-amount"), "5.00"), chromedp.Click(chromedp.ID("act-refund")),
		chromedp.WaitVisible(chromedp.CSS(`#refunded[data-refunded="500"]`)), recorded("payment-record", "refunded 5.00 EUR"))
	// The form offers what is left to refund; refunding it refunds the order.
	step(t, ctx, "refund the rest", chromedp.WaitVisible(chromedp.ID("refund-amount")), chromedp.Click(chromedp.ID("act-refund")),
		moved("order_refunded"), recorded("payment-record", "refunded 37.50 EUR"), recorded("order-actions", "nothing more can happen"))
	shot(t, ctx, shots, "order-refunded")

	step(t, ctx, "cancel the other order", chromedp.Navigate(s.url+"/dashboard/orders/ord-2002"), chromedp.WaitVisible(chromedp.ID("act-cancel")),
		chromedp.Click(chromedp.ID("act-cancel")), moved("order_cancelled"),
		recorded("shipment-record", "cancelled"), recorded("payment-record", "voided"), recorded("stock-record", "released"))
	shot(t, ctx, shots, "order-cancelled")

	// What the browser did is what the API says.
	r := s.records("ord-2001")
	if r.OrderState != "order_refunded" || r.Payment.RefundedMinor != 3750 || r.Payment.CapturedMinor != 3750 ||
		r.Shipment.Carrier != "DHL" || r.Shipment.Status != "delivered" || r.Stock.Status != "settled" {
		t.Errorf("ord-2001 through the API: %+v", r)
	}
	if st := s.stock("MUG"); st.OnHand != 3 || st.Reserved != 0 {
		t.Errorf("MUG %+v: want 2 shipped and 1 released of 5", st)
	}
	if st := s.stock("TEE"); st.OnHand != 3 || st.Reserved != 0 {
		t.Errorf("TEE %+v: want 1 shipped of 4", st)
	}
}
