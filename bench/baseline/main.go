// Command baseline is the ceiling the ingest benchmark compares shopbus
// with: a bare Echo server that decodes the same order body into the same
// Go type as POST /v1/orders and answers 201, storing nothing. Whatever
// shopbus does beyond this (keys, strict JSON, validation, the SQLite
// transaction) is what the ratio shopbus/baseline prices.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"

	"github.com/labstack/echo/v4"

	"github.com/shopbus/shopbus/event"
	"github.com/shopbus/shopbus/modules/checkout"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "address to listen on")
	flag.Parse()

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.POST("/v1/orders", func(c echo.Context) error {
		var in checkout.NewOrder
		if err := json.NewDecoder(c.Request().Body).Decode(&in); err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, err.Error())
		}
		return c.JSON(http.StatusCreated, map[string]string{"order_id": in.OrderID, "order_state": event.NewOrderCreated})
	})
	e.GET("/readyz", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	if err := e.Start(*addr); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}
