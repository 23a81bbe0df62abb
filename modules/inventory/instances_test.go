package inventory

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/database/dbtest"
)

// TestReserveAcrossInstances: orders race for the same two SKUs from three
// instances sharing one database (on PostgreSQL, each transaction at READ
// COMMITTED), half of them listing the SKUs the other way round. Stock is
// taken exactly: every order gets both items or neither, none fails
// outright (no deadlock between two orders that lock the SKUs in opposite
// order), and nothing goes below zero.
func TestReserveAcrossInstances(t *testing.T) {
	cfg := dbtest.Config(t)
	var instances []*Service
	for range 3 {
		instances = append(instances, New(dbtest.Connect(t, cfg)))
	}
	db := instances[0].db
	if _, err := database.Migrate(context.Background(), db, append(bus.Migrations, Migrations...)); err != nil {
		t.Fatal(err)
	}
	mustSet(t, instances[0], "A", 10)
	mustSet(t, instances[0], "B", 10)

	const orders = 30
	ctx := context.Background()
	errs := make([]error, orders)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range orders {
		items := []line{{"A", 1}, {"B", 1}}
		if i%2 == 1 {
			items = []line{{"B", 1}, {"A", 1}}
		}
		ev := stateEvent(t, fmt.Sprintf("ord-%02d", i), "new_order_created", items...)
		s := instances[i%len(instances)]
		wg.Go(func() {
			<-start
			errs[i] = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
				return s.handle(ctx, deliveryOf(ev, tx))
			})
		})
	}
	close(start)
	wg.Wait()

	for i, err := range errs {
		if err != nil {
			t.Errorf("order %d: %v", i, err)
		}
	}
	wantStock(t, instances[1], "A", 10, 10)
	wantStock(t, instances[2], "B", 10, 10)
	both, short := 0, 0
	for i := range orders {
		id := fmt.Sprintf("ord-%02d", i)
		r := reservations(t, db, id)
		switch sh := shortageEvents(t, db, id); {
		case maps.Equal(r, map[string]string{"A": "reserved:1", "B": "reserved:1"}) && len(sh) == 0:
			both++
		case len(r) == 0 && len(sh) == 1:
			short++
		default:
			t.Errorf("%s: reservations %v and %d shortage events", id, r, len(sh))
		}
	}
	if both != 10 || short != 20 {
		t.Errorf("%d orders reserved and %d short, want 10 and 20", both, short)
	}
}
