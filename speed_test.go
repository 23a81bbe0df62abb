package main

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/database/dbtest"
	"github.com/shopbus/shopbus/modules/checkout"
	"github.com/shopbus/shopbus/modules/email/smtptest"
)

// BenchmarkJourney measures what one complete order costs shopbus, HTTP
// aside: placed through checkout (order + event, group commit), routed,
// delivered to inventory, shipping, payment and CRM, its email queued and
// sent to an SMTP server in this process. It reports the process's CPU
// time per order (the SMTP server's share included) and the SQL
// statements per order, which do not depend on how busy the machine is:
//
//	go test -run '^$' -bench BenchmarkJourney -benchtime 4000x -count 3 .
//
// Against PostgreSQL too, with SHOPBUS_TEST_POSTGRES_DSN set.
func BenchmarkJourney(b *testing.B) {
	mail := smtptest.Start(b, "127.0.0.1:0")
	cfg, err := config.Parse("config.yaml", defaultConfig)
	if err != nil {
		b.Fatal(err)
	}
	cfg.Database = dbtest.Config(b)
	cfg.Mail.SMTPAddr = mail.Addr()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := openDaemon(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer a.store.Close()
	for _, it := range speedItems {
		if _, err := a.Inventory.Set(ctx, it.SKU, 1_000_000_000); err != nil {
			b.Fatal(err)
		}
	}
	stmts := countStatements(a.db)

	commitCtx, stopCommits := context.WithCancel(context.Background())
	commitsDone := make(chan struct{})
	go func() { _ = a.commits.Run(commitCtx); close(commitsDone) }()
	var workers sync.WaitGroup
	for _, run := range []func(context.Context) error{a.Bus.Run, a.Email.Run} {
		workers.Go(func() { _ = run(ctx) })
	}
	defer func() { cancel(); workers.Wait(); stopCommits(); <-commitsDone }()

	// Warm up: caches, prepared statements, the SMTP connections.
	speedOrders(b, a.checkout, "warm", 200, mail, 0)
	stmts.reset()
	b.ResetTimer()
	cpu0, start := processCPU(), time.Now()
	speedOrders(b, a.checkout, "run", b.N, mail, 200*mailsPerOrder)
	cpu, wall := processCPU()-cpu0, time.Since(start)
	b.StopTimer()

	n := float64(b.N)
	b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/order")
	b.ReportMetric(float64(stmts.total())/n, "stmts/order")
	b.ReportMetric(n/wall.Seconds(), "orders/s")
	b.ReportMetric(0, "ns/op")
	if testing.Verbose() {
		b.Logf("%d orders: statements per order by kind:\n%s", b.N, stmts.table(n))
	}
}

// speedItems are the bench's five order lines (bench/order.go).
var speedItems = []checkout.Item{
	{SKU: "BENCH-MUG-WHT", Name: "Ceramic mug, white, 350 ml", Quantity: 2, UnitPriceMinor: 950},
	{SKU: "BENCH-TEE-BLK-M", Name: "Organic cotton T-shirt, black, size M", Quantity: 1, UnitPriceMinor: 2490},
	{SKU: "BENCH-NB-A5", Name: "Dotted notebook A5, 120 pages, recycled paper", Quantity: 3, UnitPriceMinor: 690},
	{SKU: "BENCH-PEN-BLU", Name: "Gel pen, blue ink, 0.5 mm", Quantity: 2, UnitPriceMinor: 320},
	{SKU: "BENCH-TOTE-NAT", Name: "Canvas tote bag, natural, printed logo", Quantity: 1, UnitPriceMinor: 1590},
}

// mailsPerOrder are the emails the default rules send for a new order: the
// customer's confirmation and the owner's new-order notice.
const mailsPerOrder = 2

// speedOrders places n orders from 64 clients at once and returns once
// each is mailed (mailedBefore messages were already there) and every
// delivery is done.
func speedOrders(b *testing.B, c *checkout.Service, tag string, n int, mail *smtptest.Server, mailedBefore int) {
	b.Helper()
	var next atomic.Int64
	var clients sync.WaitGroup
	for range 64 {
		clients.Go(func() {
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				id := fmt.Sprintf("ord-%s-%07d", tag, i)
				o := checkout.NewOrder{OrderID: id, Customer: checkout.Customer{Email: "buyer+" + id + "@example.com", Name: "Jeanne Dupont-Lefebvre"},
					Items: speedItems, Currency: "EUR", ShippingMinor: 990, TaxMinor: 1738, DiscountMinor: 500,
					ShippingAddress: checkout.Address{Line1: "12 Rue de Rivoli, Batiment B, 3e etage", City: "Paris", PostalCode: "75001", Country: "FR"}}
				var sum int64
				for _, it := range o.Items {
					sum += it.Quantity * it.UnitPriceMinor
				}
				o.Payment = checkout.Payment{Method: "card", Reference: "ch_" + id, AmountMinor: sum + 990 + 1738 - 500}
				if _, err := c.Place(context.Background(), o); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	clients.Wait()
	deadline := time.Now().Add(10*time.Minute + time.Duration(n)*time.Millisecond)
	for len(mail.Messages()) < mailedBefore+mailsPerOrder*n {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d emails sent", len(mail.Messages())-mailedBefore, mailsPerOrder*n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processCPU is this process's CPU time so far, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// statementCounter counts the SQL statements run through gorm, by kind:
// their first words and table.
type statementCounter struct {
	mu   sync.Mutex
	kind map[string]int
}

func countStatements(db *gorm.DB) *statementCounter {
	c := &statementCounter{kind: map[string]int{}}
	count := func(tx *gorm.DB) {
		if tx.Error != nil && tx.Statement.SQL.Len() == 0 {
			return
		}
		k := statementKind(tx.Statement.SQL.String())
		c.mu.Lock()
		c.kind[k]++
		c.mu.Unlock()
	}
	cb := db.Callback()
	for i, err := range []error{
		cb.Create().Register("speed:count", count), cb.Query().Register("speed:count", count),
		cb.Update().Register("speed:count", count), cb.Delete().Register("speed:count", count),
		cb.Row().Register("speed:count", count), cb.Raw().Register("speed:count", count),
	} {
		if err != nil {
			panic(fmt.Sprintf("register counter %d: %v", i, err))
		}
	}
	return c
}

// statementKind is a statement's verb and table: "INSERT INTO bus_events".
func statementKind(sql string) string {
	f := strings.Fields(sql)
	for i, w := range f {
		switch strings.ToUpper(w) {
		case "INTO", "FROM", "UPDATE":
			if i+1 < len(f) {
				return strings.ToUpper(f[0]) + " " + strings.Trim(f[i+1], "`\"")
			}
		}
	}
	if len(f) > 0 {
		return strings.ToUpper(f[0])
	}
	return "?"
}

func (c *statementCounter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.kind)
}

func (c *statementCounter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.kind {
		n += v
	}
	return n
}

func (c *statementCounter) table(orders float64) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]string, 0, len(c.kind))
	for k := range c.kind {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return c.kind[keys[i]] > c.kind[keys[j]] })
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "  %6.2f  %s\n", float64(c.kind[k])/orders, k)
	}
	return sb.String()
}
