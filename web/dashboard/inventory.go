package dashboard

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/shopbus/shopbus/modules/inventory"
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
	stock, err := d.Stock.List(c.Request().Context(), "", stockLimit+1)
	if err != nil {
		return err
	}
	v := inventoryView{Stock: stock, Low: low}
	if len(stock) > stockLimit {
		v.Stock, v.More = stock[:stockLimit], true
	}
	for _, s := range v.Stock {
		switch {
		case s.Available <= 0:
			v.OutCount++
		case s.Available <= low:
			v.LowCount++
		}
	}
	s, _ := current(c)
	return d.render(c, http.StatusOK, "inventory", view{Title: "Inventory", Section: "inventory", User: s.KeyName, CSRF: s.CSRF, Data: v})
}
