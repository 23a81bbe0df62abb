package web

import (
	"bytes"
	"encoding/json"
	"encoding/json/jsontext"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
)

// PutEvents' limits, as EventBridge has them: 1 to 10 entries, 256 KB of
// them in all (sized as EventBridge sizes them, see entrySize), a source
// of at most 256 characters, a detail-type of 128, 100 resources of 2048.
const (
	maxPutEntries     = 10
	maxPutBytes       = 256 * 1024
	maxSourceLen      = 256
	maxDetailTypeLen  = 128
	maxResources      = 100
	maxResourceLength = 2048
)

// reservedSources are the source prefixes no other system may put events
// under: shopbus's own modules publish as shopbus.*, and rules trust that
// (the shipped CRM rule mails customers for any shopbus.* order event);
// aws.* is reserved as EventBridge reserves it, for rules copied from AWS.
var reservedSources = []string{"shopbus.", "aws."}

// putEventsRequest is PutEvents' request, as EventBridge's API reference
// gives it. EndpointId is accepted and means nothing here.
type putEventsRequest struct {
	Entries    []putEventsEntry `json:"Entries"`
	EndpointID string           `json:"EndpointId,omitempty"`
}

// putEventsEntry is one event of a PutEvents request. Detail is a JSON
// object held in a string, as on EventBridge. TraceHeader is accepted and
// ignored.
type putEventsEntry struct {
	Source       *string        `json:"Source,omitempty"`
	DetailType   *string        `json:"DetailType,omitempty"`
	Detail       *string        `json:"Detail,omitempty"`
	Resources    []string       `json:"Resources,omitempty"`
	Time         jsontext.Value `json:"Time,omitempty"`
	EventBusName *string        `json:"EventBusName,omitempty"`
	TraceHeader  *string        `json:"TraceHeader,omitempty"`
}

// parseTime reads an entry's Time: seconds since the epoch, as the AWS
// SDKs send it, or an RFC 3339 string, as a person with curl would.
func parseTime(raw jsontext.Value) (time.Time, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		at, err := time.Parse(time.RFC3339Nano, s)
		return at, err == nil
	}
	secs, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || secs < 0 || secs > 253402300799 { // up to 9999-12-31
		return time.Time{}, false
	}
	whole := math.Floor(secs)
	return time.Unix(int64(whole), int64((secs-whole)*1e9)), true
}

// putEventsResponse is PutEvents' response: one result per entry, in the
// request's order, each an EventId or an ErrorCode with its ErrorMessage.
type putEventsResponse struct {
	FailedEntryCount int               `json:"FailedEntryCount"`
	Entries          []putEventsResult `json:"Entries"`
}

type putEventsResult struct {
	EventID      string `json:"EventId,omitempty"`
	ErrorCode    string `json:"ErrorCode,omitempty"`
	ErrorMessage string `json:"ErrorMessage,omitempty"`
}

// EventBridge's error codes for one entry.
const (
	codeInvalidArgument = "InvalidArgument"
	codeMalformedDetail = "MalformedDetail"
	codeNotAuthorized   = "NotAuthorizedForSourceException"
)

// putEvents is POST /v1/events: other systems (a warehouse, an ERP) put
// events on the bus the EventBridge way, routed through the same rules as
// shopbus's own. An entry that is refused fails alone, as on EventBridge;
// those accepted are written to the outbox in one transaction.
func (s *Server) putEvents(c echo.Context) error {
	var in putEventsRequest
	if err := bind(c, &in); err != nil {
		return err
	}
	if n := len(in.Entries); n < 1 || n > maxPutEntries {
		return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("Entries must hold 1 to %d entries, not %d", maxPutEntries, n))
	}
	size := 0
	for _, e := range in.Entries {
		size += e.size()
	}
	if size > maxPutBytes {
		return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("the entries total %d bytes, over PutEvents' %d", size, maxPutBytes))
	}
	out := putEventsResponse{Entries: make([]putEventsResult, len(in.Entries))}
	var accepted []int
	entries := make([]bus.Entry, len(in.Entries))
	for i, e := range in.Entries {
		entry, code, msg := e.check()
		if code != "" {
			out.Entries[i] = putEventsResult{ErrorCode: code, ErrorMessage: msg}
			out.FailedEntryCount++
			continue
		}
		entries[i] = entry
		accepted = append(accepted, i)
	}
	if len(accepted) > 0 {
		ctx := c.Request().Context()
		err := s.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			for _, i := range accepted {
				ev, err := bus.Put(ctx, tx, entries[i])
				if err != nil {
					return err
				}
				out.Entries[i] = putEventsResult{EventID: ev.ID}
			}
			return nil
		})
		if err != nil {
			return err
		}
		s.Bus.Wake()
	}
	annotate(c, "entries", len(in.Entries))
	annotate(c, "failed", out.FailedEntryCount)
	return c.JSON(http.StatusOK, out)
}

// size is the entry's size as EventBridge counts it: 14 bytes for a Time,
// and the UTF-8 bytes of the source, detail-type, detail and resources.
func (e putEventsEntry) size() int {
	n := 0
	if len(e.Time) > 0 {
		n += 14
	}
	for _, s := range []*string{e.Source, e.DetailType, e.Detail} {
		if s != nil {
			n += len(*s)
		}
	}
	for _, r := range e.Resources {
		n += len(r)
	}
	return n
}

// check turns an entry into the event to put, or says why it is refused,
// in EventBridge's words where it has them.
func (e putEventsEntry) check() (bus.Entry, string, string) {
	required := func(name string) (bus.Entry, string, string) {
		return bus.Entry{}, codeInvalidArgument, fmt.Sprintf("Parameter %s is not valid. Reason: %s is a required argument.", name, name)
	}
	switch {
	case e.EventBusName != nil && *e.EventBusName != "default" && !strings.HasSuffix(*e.EventBusName, ":event-bus/default"):
		return bus.Entry{}, codeInvalidArgument, "Parameter EventBusName is not valid. Reason: shopbus has one event bus, default."
	case e.Source == nil || *e.Source == "":
		return required("Source")
	case e.DetailType == nil || *e.DetailType == "":
		return required("DetailType")
	case e.Detail == nil || *e.Detail == "":
		return required("Detail")
	case utf8.RuneCountInString(*e.Source) > maxSourceLen:
		return bus.Entry{}, codeInvalidArgument, fmt.Sprintf("Parameter Source is not valid. Reason: it is longer than %d characters.", maxSourceLen)
	case utf8.RuneCountInString(*e.DetailType) > maxDetailTypeLen:
		return bus.Entry{}, codeInvalidArgument, fmt.Sprintf("Parameter DetailType is not valid. Reason: it is longer than %d characters.", maxDetailTypeLen)
	case len(e.Resources) > maxResources:
		return bus.Entry{}, codeInvalidArgument, fmt.Sprintf("Parameter Resources is not valid. Reason: it holds more than %d resources.", maxResources)
	}
	for _, r := range e.Resources {
		if len(r) > maxResourceLength {
			return bus.Entry{}, codeInvalidArgument, fmt.Sprintf("Parameter Resources is not valid. Reason: a resource is longer than %d characters.", maxResourceLength)
		}
	}
	source := strings.ToLower(*e.Source)
	for _, prefix := range reservedSources {
		if strings.HasPrefix(source, prefix) {
			return bus.Entry{}, codeNotAuthorized, fmt.Sprintf("Not authorized for the source %s: %s* sources belong to %s.",
				*e.Source, prefix, map[string]string{"shopbus.": "shopbus's own modules", "aws.": "AWS"}[prefix])
		}
	}
	detail := bytes.TrimSpace([]byte(*e.Detail))
	if len(detail) == 0 || detail[0] != '{' || !json.Valid(detail) {
		return bus.Entry{}, codeMalformedDetail, "Detail is malformed."
	}
	entry := bus.Entry{Source: *e.Source, DetailType: *e.DetailType, Detail: detail, Resources: e.Resources}
	if len(e.Time) > 0 {
		at, ok := parseTime(e.Time)
		if !ok {
			return bus.Entry{}, codeInvalidArgument, "Parameter Time is not valid. Reason: it is neither seconds since the epoch nor an RFC 3339 time."
		}
		entry.Time = at
	}
	return entry, "", ""
}
