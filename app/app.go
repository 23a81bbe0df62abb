// Package app assembles shopbus from its config, the one way serve, the
// commands and web's test harness all build it: every package's migrations
// in order, and every module subscribed to the bus with the rules compiled
// against them.
package app

import (
	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/fault"
	"github.com/shopbus/shopbus/modules/checkout"
	"github.com/shopbus/shopbus/modules/crm"
	"github.com/shopbus/shopbus/modules/email"
	"github.com/shopbus/shopbus/modules/inventory"
	"github.com/shopbus/shopbus/modules/payment"
	"github.com/shopbus/shopbus/modules/shipping"
	"github.com/shopbus/shopbus/web"
	"github.com/shopbus/shopbus/web/dashboard"
)

// Migrations lists every package's schema steps, in the order they apply.
func Migrations() []database.Migration {
	var all []database.Migration
	for _, m := range [][]database.Migration{bus.Migrations, checkout.Migrations, inventory.Migrations,
		shipping.Migrations, payment.Migrations, crm.Migrations, email.Migrations, web.Migrations, web.IdempotencyMigrations,
		bus.QueryMigrations, checkout.QueryMigrations, dashboard.Migrations} {
		all = append(all, m...)
	}
	return all
}

// Routing is the bus with every module subscribed to it.
type Routing struct {
	Bus       *bus.Bus
	Inventory *inventory.Service
	Shipping  *shipping.Service
	Payment   *payment.Service
	Email     *email.Service
}

// Route builds the modules, subscribes each to a new bus and compiles the
// rules against them, refusing (as invalid) any rule that names a target
// no module serves or sends one a payload it cannot read. The database in
// the deps may be nil when the rules are only checked: nothing runs then.
func Route(cfg *config.Config, busDeps bus.Deps, mailDeps email.Deps) (Routing, error) {
	db := busDeps.DB
	opts := cfg.Delivery
	opts.Account, opts.Region = cfg.Bus.Account, cfg.Bus.Region
	b := bus.New(busDeps, cfg.Rules, opts)
	mail, err := email.New(mailDeps, cfg.Mail)
	if err != nil {
		return Routing{}, fault.Errorf(fault.Invalid, "config: %s: mail: %w", cfg.File, err)
	}
	ship, err := shipping.New(db, cfg.Shipping)
	if err != nil {
		return Routing{}, fault.Errorf(fault.Invalid, "config: %s: %w", cfg.File, err)
	}
	inv := inventory.New(db)
	inv.Subscribe(b)
	ship.Subscribe(b)
	pay := payment.New(db)
	pay.Subscribe(b)
	crm.New(db, mail).Subscribe(b)
	mail.Subscribe(b)
	b.Example(checkout.Examples()...)
	b.Example(inventory.Examples()...)
	if err := b.Start(); err != nil {
		return Routing{}, fault.Wrap(fault.Invalid, err)
	}
	return Routing{Bus: b, Inventory: inv, Shipping: ship, Payment: pay, Email: mail}, nil
}
