package main

import (
	"slices"
	"testing"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/modules/email"
	"github.com/shopbus/shopbus/web/webtest"
)

// TestWebtestWiresAsServe: web's test harness builds the shop as serve
// does, with every migration and every module on the bus, so that web's
// tests test what runs. A module or migration added to app.go and not to
// web/webtest fails here.
func TestWebtestWiresAsServe(t *testing.T) {
	s := webtest.New(t, webtest.Options{})
	var applied []string
	if err := s.DB.Raw("SELECT id FROM schema_migrations").Scan(&applied).Error; err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, m := range migrations() {
		want = append(want, m.ID)
	}
	slices.Sort(applied)
	slices.Sort(want)
	if !slices.Equal(applied, want) {
		t.Errorf("webtest applies the migrations\n%q\nserve applies\n%q", applied, want)
	}

	r, err := route(testConfig(t, ""), bus.Deps{}, email.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Bus.Targets(), r.bus.Targets(); !slices.Equal(got, want) {
		t.Errorf("webtest's bus serves %q, serve's %q", got, want)
	}
}
