package dashboard

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shopbus/shopbus/bus"
)

// ruleFlow is one rule drawn as source -> rule -> targets, with what it
// did in the last hour and day.
type ruleFlow struct {
	bus.RuleInfo
	// Sources and DetailTypes are what the pattern accepts; empty: any.
	Sources, DetailTypes []string
	Pattern              string
	Hour, Day            int64
	Targets              []targetFlow
}

type targetFlow struct {
	bus.TargetInfo
	Hour, Day bus.Counts
}

func (d *Dashboard) flowPage(c echo.Context) error {
	ctx := c.Request().Context()
	now := time.Now()
	hour, err := d.Rules.Traffic(ctx, now.Add(-time.Hour))
	if err != nil {
		return err
	}
	day, err := d.Rules.Traffic(ctx, now.Add(-24*time.Hour))
	if err != nil {
		return err
	}
	var flows []ruleFlow
	for _, r := range d.Rules.Rules() {
		f := ruleFlow{RuleInfo: r, Sources: accepted(r.Pattern, "source"), DetailTypes: accepted(r.Pattern, "detail-type"),
			Pattern: pretty(r.Pattern), Hour: hour.Matches[r.Name], Day: day.Matches[r.Name]}
		for _, t := range r.Targets {
			k := [2]string{r.Name, t.Name}
			f.Targets = append(f.Targets, targetFlow{TargetInfo: t, Hour: hour.Targets[k], Day: day.Targets[k]})
		}
		flows = append(flows, f)
	}
	s, _ := current(c)
	v := view{Title: "Flow", Section: "flow", User: s.KeyName, CSRF: s.CSRF, Data: flows}
	if d.Backups != nil {
		st := d.Backups.Status()
		v.Backup = &st
	}
	return d.render(c, http.StatusOK, "flow", v)
}

// accepted lists what a pattern's top-level field accepts, as written: a
// plain value as itself, an operator as its JSON ({"prefix":"shopbus."}).
// None means the pattern does not look at the field.
func accepted(pattern json.RawMessage, field string) []string {
	var p map[string]json.RawMessage
	if json.Unmarshal(pattern, &p) != nil || p[field] == nil {
		return nil
	}
	var list []json.RawMessage
	if json.Unmarshal(p[field], &list) != nil {
		return []string{string(p[field])}
	}
	out := make([]string, 0, len(list))
	for _, v := range list {
		var s string
		if json.Unmarshal(v, &s) != nil {
			s = string(v)
		}
		out = append(out, s)
	}
	return out
}
