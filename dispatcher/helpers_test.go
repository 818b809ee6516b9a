package dispatcher_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/raps/rapstest"

	"github.com/quicksilver-go/quicksilver/dispatcher"
)

const adminToken = "s3cret-admin-token"

// front is one dispatcher on one front end's Router, served over real
// HTTP.
type front struct {
	t   testing.TB
	fe  *raps.Client
	d   *dispatcher.Dispatcher
	srv *httptest.Server
}

// newFront starts a front end (memnet id) on c and a dispatcher on it;
// adjust changes the Config before New.
func newFront(t testing.TB, c *rapstest.Cluster, id groupcomm.NodeID, adjust func(*dispatcher.Config)) *front {
	t.Helper()
	fe := c.FrontEnd(id)
	cfg := dispatcher.DefaultConfig()
	cfg.Router, cfg.AdminToken = fe, adminToken
	if adjust != nil {
		adjust(&cfg)
	}
	d, err := dispatcher.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(srv.Close)
	return &front{t: t, fe: fe, d: d, srv: srv}
}

// with returns f reporting to t (a subtest's).
func (f *front) with(t testing.TB) *front {
	g := *f
	g.t = t
	return &g
}

// waitMap waits until the front end holds the cluster's newest map.
func (f *front) waitMap(c *rapstest.Cluster) { c.WaitFrontEnd(f.fe, 30*time.Second) }

type reply struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a map.
func (r reply) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// code returns the error code of an error answer, checking its shape.
func (r reply) code(t testing.TB) string {
	t.Helper()
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("status %d: body %q is not {\"error\": {\"code\", \"message\"}} (%v)", r.status, r.body, err)
	}
	return e.Error.Code
}

func (r reply) message(t testing.TB) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Message
}

// do sends one request: rest is the body (nil, a string, []byte, or a
// value to encode as JSON), then header name and value pairs.
func (f *front) do(method, path string, rest ...any) reply {
	f.t.Helper()
	var body any
	var hdr []string
	if len(rest) > 0 {
		body = rest[0]
		for _, h := range rest[1:] {
			switch h := h.(type) {
			case string:
				hdr = append(hdr, h)
			case []string:
				hdr = append(hdr, h...)
			}
		}
	}
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: out}
}

// want checks an answer's status (and, for errors, its code).
func (f *front) want(r reply, status int, code string) reply {
	f.t.Helper()
	if r.status != status {
		f.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if status >= 400 {
		if got := r.code(f.t); code != "" && got != code {
			f.t.Fatalf("code %q, want %q: %s", got, code, r.body)
		}
	}
	return r
}

func admin(extra ...string) []string {
	return append([]string{"Authorization", "Bearer " + adminToken}, extra...)
}
