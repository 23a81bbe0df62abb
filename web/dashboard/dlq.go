package dashboard

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/fault"
	"github.com/shopbus/shopbus/modules/payment"
)

// deadLimit bounds the dead letters one page lists, stripeLimit the
// Stripe events that changed nothing.
const deadLimit, stripeLimit = 200, 50

type dlqView struct {
	Target  string
	Targets []targetCount
	Letters []bus.DeadLetter
	// More is set when more dead letters exist than the page lists.
	More     bool
	Redriven int64
	// Back is this page, for its redrive forms to return to.
	Back string
	// Stripe are the newest Stripe events that changed nothing (an
	// unknown order, a move the order could not make): answered 200, so
	// Stripe sends them no more, they wait here for the owner.
	Stripe []payment.StripeEvent
}

type targetCount struct {
	Target string
	Dead   int64
}

func (d *Dashboard) dlqPage(c echo.Context) error {
	ctx := c.Request().Context()
	target := c.QueryParam("target")
	counts, err := d.DeadLetters.DeadByTarget(ctx)
	if err != nil {
		return err
	}
	letters, err := d.DeadLetters.DeadLetters(ctx, target, deadLimit+1)
	if err != nil {
		return err
	}
	v := dlqView{Target: target, Letters: letters, Redriven: redriven(c), Back: "/dashboard/dlq"}
	if target != "" {
		v.Back += "?target=" + url.QueryEscape(target)
	}
	if len(letters) > deadLimit {
		v.Letters, v.More = letters[:deadLimit], true
	}
	for _, t := range slices.Sorted(maps.Keys(counts)) {
		v.Targets = append(v.Targets, targetCount{Target: t, Dead: counts[t]})
	}
	if d.Payments != nil {
		if v.Stripe, err = d.Payments.UnappliedStripeEvents(ctx, stripeLimit); err != nil {
			return err
		}
	}
	s, _ := current(c)
	return d.render(c, http.StatusOK, "dlq", view{Title: "Dead letters", Section: "dlq", User: s.KeyName, CSRF: s.CSRF, Data: v})
}

// redrive sends dead letters again through the same Redrive as `shopbus
// dlq redrive` and POST /v1/dlq/redrive: one dead letter (id, of kind, a
// delivery when none is named) or every one of a target (target). It
// returns to the page the form was on, saying how many went.
func (d *Dashboard) redrive(c echo.Context) error {
	r := bus.Redrive{Kind: c.FormValue("kind")}
	if id := c.FormValue("id"); id != "" {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, "A delivery id is a number.")
		}
		r.IDs = []int64{n}
	}
	r.Target = c.FormValue("target")
	n, err := d.DeadLetters.Redrive(c.Request().Context(), r)
	if fault.CodeOf(err) == fault.NotFound {
		n, err = 0, nil // redriven already, by another click or another operator
	}
	if err != nil {
		return err
	}
	back, _ := url.Parse(localPath(c.FormValue("back"), "/dashboard/dlq"))
	q := back.Query()
	q.Set("redriven", strconv.FormatInt(n, 10))
	back.RawQuery = q.Encode()
	return c.Redirect(http.StatusSeeOther, back.RequestURI())
}
