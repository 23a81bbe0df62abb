package bus

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/shopbus/shopbus/database/dbtest"
)

// TestEventIDsAreTimeOrdered checks that events get version 7 UUIDs, each
// after the one written before it (Publish and Put alike), so the indexes
// keyed by event id grow at their right edge.
func TestEventIDsAreTimeOrdered(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	var ids []string
	err := db.Transaction(func(tx *gorm.DB) error {
		for i := range 50 {
			var ev Event
			var err error
			if i%2 == 0 {
				ev, err = Publish(context.Background(), tx, newOrder("ord-1"))
			} else {
				ev, err = Put(context.Background(), tx, Entry{Source: "partner.erp", DetailType: "Stock Count", Detail: json.RawMessage(`{"sku":"MUG-1"}`)})
			}
			if err != nil {
				return err
			}
			ids = append(ids, ev.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		u, err := uuid.Parse(id)
		if err != nil || u.Version() != 7 || u.Variant() != uuid.RFC4122 {
			t.Fatalf("event %d: id %q is not a version 7 UUID (err %v)", i, id, err)
		}
		if i > 0 && id <= ids[i-1] {
			t.Fatalf("event %d: id %s does not sort after %s", i, id, ids[i-1])
		}
	}
	var stored []string
	if err := db.Raw(`SELECT id FROM bus_events ORDER BY seq`).Scan(&stored).Error; err != nil {
		t.Fatal(err)
	}
	if len(stored) != len(ids) || stored[0] != ids[0] || stored[len(stored)-1] != ids[len(ids)-1] {
		t.Fatalf("stored ids %d, want the %d published in order", len(stored), len(ids))
	}
}
