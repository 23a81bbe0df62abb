package inventory

import (
	"context"
	"testing"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/database/dbtest"
)

func TestList(t *testing.T) {
	s := New(dbtest.Open(t, bus.Migrations, Migrations))
	ctx := context.Background()
	for sku, n := range map[string]int64{"TEA-1": 5, "MUG-2": 0, "CUP-3": 12} {
		if _, err := s.Set(ctx, sku, n); err != nil {
			t.Fatal(err)
		}
	}
	first, err := s.List(ctx, "", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 2 || first[0] != (Stock{SKU: "CUP-3", OnHand: 12, Available: 12}) || first[1].SKU != "MUG-2" {
		t.Errorf("first page = %+v, want CUP-3 and MUG-2", first)
	}
	rest, err := s.List(ctx, first[1].SKU, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != 1 || rest[0].SKU != "TEA-1" {
		t.Errorf("second page = %+v, want TEA-1", rest)
	}
}
