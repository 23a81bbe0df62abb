package dashboard

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/shopbus/shopbus/fault"
	"github.com/shopbus/shopbus/modules/inventory"
	"github.com/shopbus/shopbus/web"
)

const (
	// stockLimit bounds the SKUs the page lists: a small shop has far fewer.
	stockLimit = 1000
	// defaultLow is the available count at or under which a SKU is low.
	defaultLow = 5
)

type inventoryView struct {
	Stock []inventory.Stock
	// Low is the threshold; LowCount and OutCount how many SKUs are at or
	// under it, and at zero.
	Low, LowCount, OutCount int64
	More                    bool
	// Set is the SKU the owner just set, as it is now; Problem why a set
	// was refused, with the form's SKU and count to try again.
	Set                  *inventory.Stock
	Problem, SKU, OnHand string
}

func (d *Dashboard) inventoryPage(c echo.Context) error {
	low := int64(defaultLow)
	if v := c.QueryParam("low"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return echo.NewHTTPError(http.StatusBadRequest, "The low-stock threshold is a whole number, 0 or more.")
		}
		low = n
	}
	return d.showInventory(c, http.StatusOK, inventoryView{Low: low}, c.QueryParam("set"))
}

// showInventory renders the stock page; set names the SKU an action just
// set, to say how it stands now.
func (d *Dashboard) showInventory(c echo.Context, status int, v inventoryView, set string) error {
	stock, err := d.Stock.List(c.Request().Context(), "", stockLimit+1)
	if err != nil {
		return err
	}
	v.Stock = stock
	if len(stock) > stockLimit {
		v.Stock, v.More = stock[:stockLimit], true
	}
	for i, s := range v.Stock {
		switch {
		case s.Available <= 0:
			v.OutCount++
		case s.Available <= v.Low:
			v.LowCount++
		}
		if set != "" && s.SKU == set {
			v.Set = &v.Stock[i]
		}
	}
	s, _ := current(c)
	return d.render(c, status, "inventory", view{Title: "Inventory", Section: "inventory", User: s.KeyName, CSRF: s.CSRF, Data: v})
}

// setStock sets a SKU's on-hand count through inventory's Set, the one
// behind `shopbus stock set` and PUT /v1/inventory/{sku}: it reserves the
// orders waiting for the SKU as far as the stock goes. A refused count
// shows the page again, saying why.
func (d *Dashboard) setStock(c echo.Context) error {
	sku, count := strings.TrimSpace(c.FormValue("sku")), strings.TrimSpace(c.FormValue("on_hand"))
	v := inventoryView{Low: defaultLow, SKU: sku, OnHand: count}
	n, err := strconv.ParseInt(count, 10, 64)
	if err != nil || n < 0 {
		v.Problem = "The count on hand of " + sku + " is a whole number, 0 or more."
		return d.showInventory(c, http.StatusUnprocessableEntity, v, "")
	}
	if _, err := d.Stock.Set(c.Request().Context(), sku, n); err != nil {
		if code := fault.CodeOf(err); code == fault.Invalid || code == fault.Conflict {
			v.Problem = refusal(err)
			return d.showInventory(c, web.StatusOf(err), v, "")
		}
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/dashboard/inventory?set="+url.QueryEscape(sku))
}
