package email

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/database/dbtest"
)

// alertEvent is an event some module publishes.
type alertEvent struct {
	detailType string
	Shortage
}

func (alertEvent) EventSource() string       { return "shopbus.inventory" }
func (e alertEvent) EventDetailType() string { return e.detailType }

// TestHandlerQueuesAlerts routes real events through a real bus to the
// "email" target: a shortage becomes one email to the owner, anything else
// is dead at once.
func TestHandlerQueuesAlerts(t *testing.T) {
	db := dbtest.Open(t, Migrations, bus.Migrations)
	cfg := testConfig()
	cfg.Dir = t.TempDir()
	s := newTestService(t, db, cfg)
	rules := []bus.RuleConfig{{
		Name:    "alerts-to-owner",
		Pattern: map[string]any{"source": []any{"shopbus.inventory"}},
		Targets: []bus.TargetConfig{{Module: "email"}},
		Retry:   &bus.Retry{MaxAttempts: 3, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond},
	}}
	b := bus.New(bus.Deps{DB: db, Log: slog.New(slog.NewTextHandler(t.Output(), nil))}, rules, bus.Options{PollInterval: 20 * time.Millisecond})
	s.Subscribe(b)
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	runWorker(t, s)

	shortage := Shortage{OrderID: "ord_7", Items: []ShortItem{{SKU: "MUG-1", Requested: 3, Available: 1}}}
	for _, ev := range []alertEvent{
		{"Inventory Shortage", shortage},
		{"Inventory Shortage", shortage}, // a second alert for the order: still one email
		{"Stock Counted", Shortage{OrderID: "ord_8"}},
	} {
		err := db.Transaction(func(tx *gorm.DB) error { _, err := bus.Publish(ctx, tx, ev); return err })
		if err != nil {
			t.Fatal(err)
		}
	}
	b.Wake()

	bustest.WaitFor(t, "the shortage email", jobIs(t, s, "ord_7", StatusSent))
	bustest.WaitFor(t, "the other alert to be dead", func() bool {
		ds, err := b.Deliveries(ctx, "ord_8")
		return err == nil && len(ds) == 1 && ds[0].Status == bus.StatusDead
	})
	if ds, _ := b.Deliveries(ctx, "ord_8"); ds[0].Attempts != 1 || !strings.Contains(ds[0].LastError, "Stock Counted") {
		t.Errorf("delivery %+v, want dead after one attempt naming the detail-type", ds[0])
	}
	bustest.WaitFor(t, "both shortage deliveries done", func() bool {
		ds, err := b.Deliveries(ctx, "ord_7")
		return err == nil && len(ds) == 2 && ds[0].Status == bus.StatusDone && ds[1].Status == bus.StatusDone
	})
	job := jobsFor(t, s, "ord_7")[0]
	if job.To != "owner@example.com" || job.Template != "inventory_shortage" {
		t.Errorf("job %+v", job)
	}
	files, _ := filepath.Glob(filepath.Join(cfg.Dir, "*.eml"))
	if len(files) != 1 {
		t.Fatalf("got %d .eml files, want 1", len(files))
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if p := parseMail(t, string(raw)); !strings.Contains(p.Text, "MUG-1: requested 3, available 1") {
		t.Errorf("text part:\n%s", p.Text)
	}
}
