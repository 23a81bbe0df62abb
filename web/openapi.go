package web

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// openAPIDocument is the OpenAPI 3.1 description of every route New
// registers; openapi_test.go fails when the two disagree.
//
//go:embed openapi.yaml
var openAPIDocument []byte

// openAPI serves the API's own description, so clients and tools can read
// the contract from the server they talk to.
func (s *Server) openAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/yaml", openAPIDocument)
}
