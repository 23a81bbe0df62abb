package email

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"regexp"
	"strings"
	texttemplate "text/template"

	"github.com/shopbus/shopbus/money"
)

// OrderSuccess is the data of the "order_success" email. Its JSON names
// follow the order event's detail (snake_case), except that the customer's
// name and email are flat fields here rather than a nested "customer".
type OrderSuccess struct {
	OrderID         string  `json:"order_id"`
	CustomerName    string  `json:"customer_name"`
	CustomerEmail   string  `json:"customer_email"`
	Currency        string  `json:"currency"`
	Items           []Line  `json:"items"`
	SubtotalMinor   int64   `json:"subtotal_minor"`
	ShippingMinor   int64   `json:"shipping_minor,omitempty"`
	TaxMinor        int64   `json:"tax_minor,omitempty"`
	DiscountMinor   int64   `json:"discount_minor,omitempty"`
	TotalMinor      int64   `json:"total_minor"`
	ShippingAddress Address `json:"shipping_address"`
}

// Line is one item of an order.
type Line struct {
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	Quantity       int64  `json:"quantity"`
	UnitPriceMinor int64  `json:"unit_price_minor"`
}

// LineTotalMinor is the line's quantity times its unit price.
func (l Line) LineTotalMinor() int64 { return l.Quantity * l.UnitPriceMinor }

// Address is a shipping address.
type Address struct {
	Line1      string `json:"line1"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

// Shortage is the data of the "inventory_shortage" email to the shop owner.
type Shortage struct {
	OrderID string      `json:"order_id"`
	Items   []ShortItem `json:"items"`
}

// ShortItem is one SKU the order wanted more of than was in stock.
type ShortItem struct {
	SKU       string `json:"sku"`
	Requested int64  `json:"requested"`
	Available int64  `json:"available"`
}

// StockNotice is the data of the customer's "order_backordered" email
// (Items: the lines stock lacks) and "order_in_stock" email (no items:
// everything arrived).
type StockNotice struct {
	OrderID      string `json:"order_id"`
	CustomerName string `json:"customer_name"`
	Items        []Line `json:"items,omitempty"`
}

// dataTypes maps a template to the type its job's JSON data decodes into.
// A template added through TemplatesDir gets a map[string]any.
var dataTypes = map[string]func() any{
	"order_success":      func() any { return new(OrderSuccess) },
	"inventory_shortage": func() any { return new(Shortage) },
	"order_backordered":  func() any { return new(StockNotice) },
	"order_in_stock":     func() any { return new(StockNotice) },
}

//go:embed templates
var embedded embed.FS

// A template is made of three files: name.subject and name.txt (text/template)
// and name.html (html/template, which escapes what the data brings).
var parts = []string{".subject", ".txt", ".html"}

var templateName = regexp.MustCompile(`^[a-z0-9_]+$`)

type template struct {
	name    string
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

// loadTemplates parses the embedded templates, each file of which a file of
// the same name in dir (if set) replaces; dir may also add templates.
func loadTemplates(dir string, funcs map[string]any) (map[string]*template, error) {
	sources := map[string]map[string]string{} // name -> part -> source
	add := func(fsys fs.FS) error {
		entries, err := fs.ReadDir(fsys, ".")
		if err != nil {
			return err
		}
		for _, e := range entries {
			for _, part := range parts {
				name, ok := strings.CutSuffix(e.Name(), part)
				if !ok || e.IsDir() || !templateName.MatchString(name) {
					continue
				}
				b, err := fs.ReadFile(fsys, e.Name())
				if err != nil {
					return err
				}
				if sources[name] == nil {
					sources[name] = map[string]string{}
				}
				sources[name][part] = string(b)
			}
		}
		return nil
	}
	sub, _ := fs.Sub(embedded, "templates")
	if err := add(sub); err != nil {
		return nil, fmt.Errorf("email: embedded templates: %w", err)
	}
	if dir != "" {
		if err := add(os.DirFS(dir)); err != nil {
			return nil, fmt.Errorf("%w: templates_dir: %w", ErrInvalidConfig, err)
		}
	}
	out := map[string]*template{}
	for name, src := range sources {
		t := &template{name: name}
		var err error
		for _, part := range parts {
			if _, ok := src[part]; !ok {
				return nil, fmt.Errorf("%w: template %s has no %s file", ErrInvalidConfig, name, name+part)
			}
		}
		if t.subject, err = texttemplate.New(name + ".subject").Funcs(funcs).Option("missingkey=error").Parse(src[".subject"]); err == nil {
			if t.text, err = texttemplate.New(name + ".txt").Funcs(funcs).Option("missingkey=error").Parse(src[".txt"]); err == nil {
				t.html, err = htmltemplate.New(name + ".html").Funcs(funcs).Option("missingkey=error").Parse(src[".html"])
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%w: template %s: %w", ErrInvalidConfig, name, err)
		}
		out[name] = t
	}
	return out, nil
}

// rendered is an email's subject and its two bodies.
type rendered struct{ subject, text, html string }

// render decodes the job's JSON data into the template's data type and
// executes the three parts. Any error is permanent: the same data and
// template fail the same way every time.
func (t *template) render(data []byte) (rendered, error) {
	v := any(new(map[string]any))
	if newData, ok := dataTypes[t.name]; ok {
		v = newData()
	}
	if err := json.Unmarshal(data, v); err != nil {
		return rendered{}, fmt.Errorf("decode data for %s: %w", t.name, err)
	}
	var subject, text, html bytes.Buffer
	if err := t.subject.Execute(&subject, v); err != nil {
		return rendered{}, err
	}
	if err := t.text.Execute(&text, v); err != nil {
		return rendered{}, err
	}
	if err := t.html.Execute(&html, v); err != nil {
		return rendered{}, err
	}
	// One line, whatever the data held: a newline would end the header.
	return rendered{subject: strings.Join(strings.Fields(subject.String()), " "), text: text.String(), html: html.String()}, nil
}

// funcs are the template functions: money formats minor units, shop names
// the shop.
func (s *Service) funcs() map[string]any {
	return map[string]any{
		"money": money.Format,
		"shop":  func() string { return s.cfg.ShopName },
	}
}
