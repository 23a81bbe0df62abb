package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"time"

	"github.com/labstack/echo/v4"
)

// staticFile is a file of static/ with the ETag that lets a browser keep
// it until a new binary brings a new version.
type staticFile struct {
	body []byte
	etag string
	mime string
}

//go:embed static
var staticFiles embed.FS

// staticTypes are the content types of what static/ may hold.
var staticTypes = map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}

func loadStatic() (map[string]staticFile, error) {
	out := map[string]staticFile{}
	err := fs.WalkDir(staticFiles, "static", func(name string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		body, err := staticFiles.ReadFile(name)
		if err != nil {
			return err
		}
		mime, ok := staticTypes[path.Ext(name)]
		if !ok {
			return fmt.Errorf("dashboard: %s: no content type for it", name)
		}
		sum := sha256.Sum256(body)
		out[e.Name()] = staticFile{body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, mime: mime}
		return nil
	})
	return out, err
}

// serveStatic answers a file of static/; If-None-Match gets a 304.
func (d *Dashboard) serveStatic(c echo.Context) error {
	f, ok := d.static[c.Param("name")]
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound, "no such file")
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, f.mime)
	h.Set("ETag", f.etag)
	h.Set(echo.HeaderCacheControl, "no-cache")
	http.ServeContent(c.Response(), c.Request(), "", time.Time{}, bytes.NewReader(f.body))
	return nil
}
