package web_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// padded is a valid order body of exactly size bytes: JSON allows any
// amount of whitespace after the value.
func padded(t *testing.T, size int) string {
	t.Helper()
	body := orderBody("ada@example.com")
	if len(body) > size {
		t.Fatalf("the order alone is %d bytes", len(body))
	}
	return body + strings.Repeat(" ", size-len(body))
}

func TestBodyLimitIsOneMiB(t *testing.T) {
	s := newIdemShop(t)
	for _, tc := range []struct {
		name    string
		size    int
		chunked bool // no Content-Length: the limit is found while reading
		want    int
	}{
		{"exactly 1 MiB", 1 << 20, false, http.StatusCreated},
		{"exactly 1 MiB, chunked", 1 << 20, true, http.StatusCreated},
		{"one byte more", 1<<20 + 1, false, http.StatusRequestEntityTooLarge},
		{"one byte more, chunked", 1<<20 + 1, true, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := s.newRequest("/v1/orders", padded(t, tc.size), s.key)
			if tc.chunked {
				req.Body = io.NopCloser(bytes.NewReader([]byte(padded(t, tc.size))))
				req.ContentLength = -1
			}
			r, err := s.do(req)
			if err != nil {
				t.Fatal(err)
			}
			if r.status != tc.want {
				t.Errorf("%d bytes: got %s, want %d", tc.size, r, tc.want)
			}
		})
	}
}

func TestJSONMustBeUTF8(t *testing.T) {
	s := newIdemShop(t)
	for _, tc := range []struct {
		contentType string
		want        int
	}{
		{"application/json", http.StatusCreated},
		{"application/json; charset=utf-8", http.StatusCreated},
		{"application/json; charset=UTF-8", http.StatusCreated},
		{`application/json; charset="utf-8"`, http.StatusCreated},
		{"application/json; charset=utf-16", http.StatusUnsupportedMediaType},
		{"application/json; charset=UTF-16LE", http.StatusUnsupportedMediaType},
		{"application/json; charset=iso-8859-1", http.StatusUnsupportedMediaType},
		{"application/json; charset=", http.StatusUnsupportedMediaType},
	} {
		t.Run(tc.contentType, func(t *testing.T) {
			req := s.newRequest("/v1/orders", orderBody("ada@example.com"), s.key)
			req.Header.Set("Content-Type", tc.contentType)
			r, err := s.do(req)
			if err != nil {
				t.Fatal(err)
			}
			if r.status != tc.want {
				t.Errorf("got %s, want %d", r, tc.want)
			}
		})
	}
}
