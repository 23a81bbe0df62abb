package email

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/modules/email/smtptest"
)

// testConfig retries fast; the caller sets SMTPAddr or Dir.
func testConfig() Config {
	return Config{
		From:           "Test Shop <shop@example.com>",
		OwnerEmail:     "owner@example.com",
		PollInterval:   20 * time.Millisecond,
		InitialBackoff: 10 * time.Millisecond,
		MaxBackoff:     50 * time.Millisecond,
	}
}

func newTestService(t *testing.T, db *gorm.DB, cfg Config) *Service {
	t.Helper()
	s, err := New(Deps{DB: db, Log: slog.New(slog.NewTextHandler(t.Output(), nil))}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// runWorker runs s.Run until the test ends, and checks it returns.
func runWorker(t *testing.T, s *Service) {
	t.Helper()
	bustest.Run(t, s.Run)
}

func enqueue(t *testing.T, s *Service, m Message) {
	t.Helper()
	if err := s.db.Transaction(func(tx *gorm.DB) error { return s.Enqueue(tx, m) }); err != nil {
		t.Fatal(err)
	}
}

func jobsFor(t *testing.T, s *Service, orderID string) []Job {
	t.Helper()
	jobs, err := s.ForOrder(context.Background(), orderID)
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

// jobIs reports whether the order has exactly one job, in status.
func jobIs(t *testing.T, s *Service, orderID, status string) func() bool {
	return func() bool {
		jobs := jobsFor(t, s, orderID)
		return len(jobs) == 1 && jobs[0].Status == status
	}
}

func sampleOrder() OrderSuccess {
	return OrderSuccess{
		OrderID:       "ord_123",
		CustomerName:  "Ada <script>alert(1)</script>",
		CustomerEmail: "ada@example.com",
		Currency:      "EUR",
		Items: []Line{
			{SKU: "MUG-1", Name: "Blue mug", Quantity: 2, UnitPriceMinor: 1250},
			{SKU: "TEA-7", Name: "Green tea", Quantity: 1, UnitPriceMinor: 899},
		},
		TotalMinor:      3399,
		ShippingAddress: Address{Line1: "1 Analytical Row", City: "London", PostalCode: "N1 9GU", Country: "GB"},
	}
}

// parseMail decodes a received email, failing the test unless it is
// multipart/alternative with both a text and an HTML part.
func parseMail(t *testing.T, raw string) smtptest.Parsed {
	t.Helper()
	p, err := smtptest.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if p.Text == "" || p.HTML == "" {
		t.Fatalf("want a text and an HTML part, got text %d bytes, html %d bytes", len(p.Text), len(p.HTML))
	}
	return p
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
