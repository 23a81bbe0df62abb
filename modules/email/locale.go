package email

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"golang.org/x/text/language"

	"github.com/shopbus/shopbus/money"
)

// fallback is the language every template exists in, and what a reader
// gets when their own language has no version of a template.
const fallback = "en"

// months names the months in the languages whose dates shopbus writes
// out; a date for any other language is written 2006-01-02, which every
// reader can read.
var months = map[string][12]string{
	"en": {"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
	"de": {"Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember"},
}

// formatDate writes the day of t (in UTC, as shopbus stores times) as a
// reader of lang expects it.
func formatDate(lang language.Tag, t time.Time) string {
	t = t.UTC()
	base, _ := lang.Base()
	names, ok := months[base.String()]
	if !ok {
		return t.Format(time.DateOnly)
	}
	month := names[t.Month()-1]
	switch base.String() {
	case "de":
		return fmt.Sprintf("%d. %s %d", t.Day(), month, t.Year())
	}
	// Month first only for a reader who said US: "en" alone is the world's.
	if region, conf := lang.Region(); conf == language.Exact && region.String() == "US" {
		return fmt.Sprintf("%s %d, %d", month, t.Day(), t.Year())
	}
	return fmt.Sprintf("%d %s %d", t.Day(), month, t.Year())
}

// funcs are the template functions for an email read in lang: money
// formats minor units, date a day, shop names the shop, and dashboard
// links to an order's page on the owner's dashboard. A template of the
// shop's own gets its data as a map, so money and date take the numbers
// and times it holds too.
func (s *Service) funcs(lang language.Tag) map[string]any {
	amounts := money.NewFormatter(lang)
	return map[string]any{
		"money": func(minor any, currency string) (string, error) {
			n, err := integer(minor)
			if err != nil {
				return "", err
			}
			return amounts.Format(n, currency), nil
		},
		"date": func(v any) (string, error) {
			switch t := v.(type) {
			case time.Time:
				return formatDate(lang, t), nil
			case string:
				parsed, err := time.Parse(time.RFC3339, t)
				if err != nil {
					return "", fmt.Errorf("date: %w", err)
				}
				return formatDate(lang, parsed), nil
			}
			return "", fmt.Errorf("date: %T is not a time", v)
		},
		"shop": func() string { return s.cfg.ShopName },
		"dashboard": func(orderID string) string {
			return strings.TrimSuffix(s.cfg.DashboardURL, "/") + "/orders/" + url.PathEscape(orderID)
		},
	}
}

// integer reads an amount of minor units as a template holds it.
func integer(v any) (int64, error) {
	switch n := v.(type) {
	case int64:
		return n, nil
	case int:
		return int64(n), nil
	case json.Number:
		return n.Int64()
	case float64:
		if n == float64(int64(n)) {
			return int64(n), nil
		}
	}
	return 0, fmt.Errorf("money: %v (%T) is not a whole number of minor units", v, v)
}

// readerLanguage is the language a template is formatted in: the
// reader's own when the template is written in it or in a more general
// form of it (a de template read in de-AT formats as de-AT does), else the
// template's, so an English text never carries German numbers.
func readerLanguage(reader language.Tag, templateLang string) language.Tag {
	for t := reader; ; t = t.Parent() {
		if t.String() == templateLang {
			return reader
		}
		if t.IsRoot() {
			return language.Make(templateLang)
		}
	}
}
