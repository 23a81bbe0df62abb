package dashboard

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/event"
	"github.com/shopbus/shopbus/modules/checkout"
)

type rulesView struct {
	Event   string
	Problem string
	// Tested is set once an event was run through the rules.
	Tested  bool
	Matches []bus.RuleMatch
}

func (d *Dashboard) rulesPage(c echo.Context) error {
	return d.showRules(c, http.StatusOK, rulesView{Event: exampleEvent()})
}

// testRules runs the pasted event through the rules with the bus's dry run,
// the engine behind `shopbus rules test` and POST /v1/rules/test: nothing
// is stored or sent.
func (d *Dashboard) testRules(c echo.Context) error {
	v := rulesView{Event: c.FormValue("event")}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(v.Event), &obj); err != nil {
		v.Problem = "The event must be a JSON object: " + err.Error()
		return d.showRules(c, http.StatusBadRequest, v)
	}
	matches, err := d.Rules.Test([]byte(v.Event))
	if err != nil {
		v.Problem = err.Error()
		return d.showRules(c, http.StatusBadRequest, v)
	}
	v.Tested, v.Matches = true, matches
	return d.showRules(c, http.StatusOK, v)
}

func (d *Dashboard) showRules(c echo.Context, status int, v rulesView) error {
	s, _ := current(c)
	return d.render(c, status, "rules", view{Title: "Rule tester", Section: "rules", User: s.KeyName, CSRF: s.CSRF, Data: v})
}

// exampleEvent is a new order's event as checkout publishes it, to start
// from.
func exampleEvent() string {
	detail := checkout.Examples()[0]
	if sc, ok := detail.(event.OrderStateChange); ok {
		sc.PreviousState = "" // a new order has none
		detail = sc
	}
	raw, err := json.Marshal(detail)
	if err != nil {
		return "{}"
	}
	ev, err := json.MarshalIndent(bus.Event{Version: "0", ID: "00000000-0000-4000-8000-000000000000", DetailType: detail.EventDetailType(),
		Source: detail.EventSource(), Time: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), Resources: []string{}, Detail: raw}, "", "  ")
	if err != nil {
		return "{}"
	}
	return string(ev)
}
