package dispatcher_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/dispatcher"
	"github.com/quicksilver-go/quicksilver/raps/rapstest"
)

// FuzzHandlers sends hostile requests — any method, path, query, body and
// headers — to every route of a dispatcher over a real one-node cluster:
// none may panic or answer 500, and every error answer has the
// {"error": {"code", "message"}} shape.
func FuzzHandlers(f *testing.F) {
	c := rapstest.New(f, 1)
	fe := c.FrontEnd(100)
	c.WaitFrontEnd(fe, 30*time.Second)
	cfg := dispatcher.DefaultConfig()
	cfg.Router, cfg.AdminToken = fe, adminToken
	cfg.RequestTimeout, cfg.TokenWait = time.Second, 100*time.Millisecond
	cfg.MaxBody, cfg.MaxKey = 4<<10, 256
	d, err := dispatcher.New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	h := d.Handler()
	// Real HTTP for the seeds, so the server's own parsing runs too.
	srv := httptest.NewServer(h)
	f.Cleanup(srv.Close)

	long := strings.Repeat("k", 5000)
	seeds := []struct{ method, path, body, auth, idem string }{
		{"PUT", "/v1/kv/a", "v", "", ""},
		{"GET", "/v1/kv/a?consistency=session&token=2.1.1", "", "", ""},
		{"GET", "/v1/kv/a?token=2.1.99999999999999", "", "", ""},
		{"GET", "/v1/kv/a?token=18446744073709551615.18446744073709551615.18446744073709551615", "", "", ""},
		{"GET", "/v1/kv/a?token=1.2.3.4", "", "", ""},
		{"GET", "/v1/kv/a?consistency=%00", "", "", ""},
		{"DELETE", "/v1/kv/" + long, "", "", ""},
		{"POST", "/v1/kv/a/cas", `{"expect":"v","value":"w"}`, "", ""},
		{"POST", "/v1/kv/a/cas", `{"expect_base64":"%%%","value":1}`, "", ""},
		{"POST", "/v1/kv/a/append", strings.Repeat("x", 5000), "", "k"},
		{"GET", "/v1/kv/a/list?encoding=base64", "", "", ""},
		{"POST", "/v1/services/kv/update", `{"key":"a","op_base64":"UAFhAXY="}`, "", "idem-1"},
		{"POST", "/v1/services/kv/update", `{"key":"a","op":"x","idempotency_key":"` + strings.Repeat("\u00e9", 100) + `"}`, "", ""},
		{"POST", "/v1/services/kv/query", `{"key":"a","query":"G","consistency":"strict","token":"x"}`, "", ""},
		{"POST", "/v1/services/kv/query", `{"key":null,"query":null}`, "", ""},
		{"POST", "/v1/services/kv/scatter", `{"query_base64":"RwFh"}`, "", ""},
		{"POST", "/v1/services/kv/scatter", `[1,2,3]`, "", ""},
		{"POST", "/v1/services/%00/update", `{}`, "", ""},
		{"POST", "/v1/services/" + long + "/query", `{}`, "", ""},
		{"GET", "/v1/map", "", "", ""},
		{"GET", "/v1/admin/members", "", "Bearer " + adminToken, ""},
		{"GET", "/v1/admin/history?since=abc&limit=-1", "", "Bearer " + adminToken, ""},
		{"GET", "/v1/admin/trace?service=kv&key=a", "", "Bearer " + adminToken, ""},
		{"GET", "/v1/admin/moves", "", "Bearer " + adminToken, ""},
		{"POST", "/v1/admin/drain", `{"node":18446744073709551615}`, "Bearer " + adminToken, ""},
		{"POST", "/v1/admin/move", `{"service":"kv","partition":-5,"from":1,"to":1}`, "Bearer " + adminToken, ""},
		{"POST", "/v1/admin/clones", `{"service":"kv","clones":1e9}`, "Bearer " + adminToken, ""},
		{"POST", "/v1/admin/clones", `{"service":"kv","clones":1}`, "Bearer wrong", ""},
		{"PATCH", "/v1/kv/a", "", "", ""},
		{"TRACE", "/", "", "", ""},
		{"GET", "/livez", "", "", ""},
		{"GET", "/readyz", "", "", ""},
		{"GET", "/../../etc/passwd", "", "", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, []byte(s.body), s.auth, s.idem)
		req, err := http.NewRequest(s.method, srv.URL+s.path, strings.NewReader(s.body))
		if err != nil {
			f.Fatal(err)
		}
		if s.auth != "" {
			req.Header.Set("Authorization", s.auth)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			f.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 && resp.StatusCode != 503 && resp.StatusCode != 504 {
			f.Fatalf("%s %s over HTTP: status %d", s.method, s.path, resp.StatusCode)
		}
	}
	f.Fuzz(func(t *testing.T, method, path string, body []byte, auth, idem string) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequest(method, "http://dispatcher.test"+path, strings.NewReader(string(body)))
		if err != nil {
			return // not a request a server could receive
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if idem != "" {
			req.Header.Set("Idempotency-Key", idem)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != 503 && rec.Code != 504 {
			t.Fatalf("%q %q: status %d: %s", method, path, rec.Code, rec.Body.Bytes())
		}
		if rec.Code >= 400 {
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("%q %q: status %d with body %q", method, path, rec.Code, rec.Body.Bytes())
			}
		}
	})
}
