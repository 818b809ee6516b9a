package dispatcher_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/dispatcher"
	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/kv"
	"github.com/quicksilver-go/quicksilver/raps/rapstest"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// The kv routes and the generic API round trip over real HTTP, with the
// QS-* headers; a session read through another front end sees its own
// write; an idempotency key applies an update once.
func TestRoundTrips(t *testing.T) {
	c := rapstest.New(t, 3)
	a := newFront(t, c, 100, nil)
	b := newFront(t, c, 101, nil)
	a.waitMap(c)
	b.waitMap(c)

	t.Run("kv", func(t *testing.T) {
		a, b := a.with(t), b.with(t)
		_ = b
		r := a.want(a.do("PUT", "/v1/kv/hello", "world"), 200, "")
		tok, _ := r.json(t)["token"].(string)
		for _, h := range []string{"QS-Partition", "QS-View", "QS-Clone", "QS-Token"} {
			if r.header.Get(h) == "" {
				t.Errorf("PUT answer lacks %s: %v", h, r.header)
			}
		}
		if tok == "" || r.header.Get("QS-Token") != tok {
			t.Fatalf("token %q, header %q", tok, r.header.Get("QS-Token"))
		}
		for _, q := range []string{"", "?consistency=any", "?consistency=strict", "?token=" + tok, "?consistency=session&token=" + tok} {
			g := a.want(a.do("GET", "/v1/kv/hello"+q), 200, "")
			if string(g.body) != "world" || g.header.Get("QS-Clone") == "" || g.header.Get("QS-Token") == "" || g.header.Get("QS-Partition") == "" {
				t.Fatalf("GET%s: %q %v", q, g.body, g.header)
			}
		}
		// A key with a slash and other bytes, percent-encoded.
		a.want(a.do("PUT", "/v1/kv/a%2Fb%20c", "slash"), 200, "")
		if g := a.want(a.do("GET", "/v1/kv/a%2Fb%20c?consistency=strict"), 200, ""); string(g.body) != "slash" {
			t.Fatalf("GET a/b c: %q", g.body)
		}
		// Compare-and-set: right expectation, wrong one (409 with ok:false).
		if r := a.want(a.do("POST", "/v1/kv/hello/cas", map[string]string{"expect": "world", "value": "there"}), 200, ""); r.json(t)["ok"] != true {
			t.Fatalf("cas: %s", r.body)
		}
		r = a.want(a.do("POST", "/v1/kv/hello/cas", map[string]string{"expect": "world", "value": "again"}), 409, "cas_failed")
		if r.json(t)["ok"] != false {
			t.Fatalf("failed cas body: %s", r.body)
		}
		if g := a.want(a.do("GET", "/v1/kv/hello?consistency=strict"), 200, ""); string(g.body) != "there" {
			t.Fatalf("after cas: %q", g.body)
		}
		// CAS on an absent key with an empty expectation creates it.
		a.want(a.do("POST", "/v1/kv/fresh/cas", map[string]string{"value_base64": b64([]byte{0, 1, 2})}), 200, "")
		if g := a.want(a.do("GET", "/v1/kv/fresh?consistency=strict"), 200, ""); string(g.body) != "\x00\x01\x02" {
			t.Fatalf("binary value: %q", g.body)
		}
		// Append with an idempotency key, twice: applied once.
		for range 2 {
			r := a.want(a.do("POST", "/v1/kv/list1/append", "e1", "Idempotency-Key", "append-once-1"), 200, "")
			if r.json(t)["length"] != 1.0 {
				t.Fatalf("append: %s", r.body)
			}
		}
		if r := a.want(a.do("POST", "/v1/kv/list1/append", "e2"), 200, ""); r.json(t)["length"] != 2.0 {
			t.Fatalf("append: %s", r.body)
		}
		if l := a.want(a.do("GET", "/v1/kv/list1/list?consistency=strict"), 200, ""); string(l.body) != "[\"e1\",\"e2\"]\n" {
			t.Fatalf("list: %q", l.body)
		}
		if l := a.want(a.do("GET", "/v1/kv/list1/list?consistency=strict&encoding=base64"), 200, ""); !strings.Contains(string(l.body), b64([]byte("e1"))) {
			t.Fatalf("list base64: %q", l.body)
		}
		a.want(a.do("POST", "/v1/kv/bin/append", []byte{0xff, 0xfe}), 200, "")
		a.want(a.do("GET", "/v1/kv/bin/list?consistency=strict"), 406, "not_utf8")
		a.want(a.do("DELETE", "/v1/kv/hello"), 200, "")
		a.want(a.do("GET", "/v1/kv/hello?consistency=strict"), 404, "not_found")
		a.want(a.do("DELETE", "/v1/kv/hello"), 404, "not_found")
		a.want(a.do("GET", "/v1/kv/nolist/list?consistency=strict"), 404, "not_found")
	})

	t.Run("generic", func(t *testing.T) {
		a, b := a.with(t), b.with(t)
		_ = b
		r := a.want(a.do("POST", "/v1/services/kv/update", map[string]string{
			"key": "g1", "op_base64": b64(kv.Encode(kv.OpPut, "g1", []byte("v1"))), "idempotency_key": "gen-1"}), 200, "")
		m := r.json(t)
		if m["result_base64"] != b64([]byte{kv.StatusOK}) || m["token"] == "" || m["view"] == nil || r.header.Get("QS-View") == "" {
			t.Fatalf("update: %s %v", r.body, r.header)
		}
		for _, lvl := range []string{"any", "strict", "session"} {
			body := map[string]string{"key": "g1", "query_base64": b64(kv.Encode(kv.OpGet, "g1")), "consistency": lvl}
			if lvl == "session" {
				body["token"] = m["token"].(string)
			}
			q := a.want(a.do("POST", "/v1/services/kv/query", body), 200, "").json(t)
			if q["result_base64"] != b64([]byte("\x00v1")) || q["result"] != "\x00v1" || q["clone"] == nil {
				t.Fatalf("query at %s: %v", lvl, q)
			}
		}
		// Binary keys through key_base64 land where the text key does.
		// A percent-encoded service name is decoded.
		a.want(a.do("POST", "/v1/services/k%76/query", map[string]string{"key": "g1", "query_base64": b64(kv.Encode(kv.OpGet, "g1")), "consistency": "strict"}), 200, "")
		q := a.want(a.do("POST", "/v1/services/kv/query", map[string]string{"key_base64": b64([]byte("g1")), "query_base64": b64(kv.Encode(kv.OpGet, "g1")), "consistency": "strict"}), 200, "").json(t)
		if q["result"] != "\x00v1" {
			t.Fatalf("query by key_base64: %v", q)
		}
		s := a.want(a.do("POST", "/v1/services/kv/scatter", map[string]string{"query_base64": b64(kv.Encode(kv.OpGet, "g1"))}), 200, "").json(t)
		res, _ := s["results"].([]any)
		if s["partial"] != false || len(res) != rapstest.DefaultKVPartitions {
			t.Fatalf("scatter: %v", s)
		}
		found := 0
		for _, p := range res {
			if p.(map[string]any)["result"] == "\x00v1" {
				found++
			}
		}
		if found != 1 {
			t.Fatalf("scatter found g1 in %d partitions: %v", found, s)
		}
	})

	t.Run("session read through another front end", func(t *testing.T) {
		a, b := a.with(t), b.with(t)
		_ = b
		for i := range 20 {
			k := fmt.Sprint("s", i)
			r := a.want(a.do("PUT", "/v1/kv/"+k, "v"+k), 200, "")
			tok := r.json(t)["token"].(string)
			g := b.want(b.do("GET", "/v1/kv/"+k+"?consistency=session&token="+tok), 200, "")
			if string(g.body) != "v"+k {
				t.Fatalf("session read of %s through front end b: %q", k, g.body)
			}
		}
	})

	t.Run("token from another partition", func(t *testing.T) {
		a, b := a.with(t), b.with(t)
		_ = b
		// Find two keys of different partitions.
		pa, _ := c.ClonesOf("kv", []byte("ka"))
		other := ""
		for i := range 100 {
			if p, _ := c.ClonesOf("kv", fmt.Appendf(nil, "kb%d", i)); p != pa {
				other = fmt.Sprintf("kb%d", i)
				break
			}
		}
		tok := a.want(a.do("PUT", "/v1/kv/ka", "x"), 200, "").json(t)["token"].(string)
		a.want(a.do("PUT", "/v1/kv/"+other, "y"), 200, "")
		r := a.want(a.do("GET", "/v1/kv/"+other+"?token="+tok), 400, "bad_token")
		if !strings.Contains(r.message(t), "group") {
			t.Fatalf("message says too little: %s", r.body)
		}
		g, inc, _ := strings.Cut(tok, ".")
		a.want(a.do("GET", "/v1/kv/ka?token="+g+".99"+inc[strings.Index(inc, "."):]), 400, "bad_token")
	})

	t.Run("token from the future answers fast", func(t *testing.T) {
		a, b := a.with(t), b.with(t)
		_ = b
		tok := a.want(a.do("PUT", "/v1/kv/fut", "x"), 200, "").json(t)["token"].(string)
		parts := strings.Split(tok, ".")
		future := parts[0] + "." + parts[1] + ".999999999"
		t0 := time.Now()
		r := a.want(a.do("GET", "/v1/kv/fut?token="+future), 400, "token_ahead")
		if took := time.Since(t0); took > 3*time.Second {
			t.Fatalf("a future token took %v (%s)", took, r.body)
		}
		t.Logf("future token: %v: %s", time.Since(t0), r.message(t))
		// The generic query says the same.
		a.want(a.do("POST", "/v1/services/kv/query", map[string]string{"key": "fut", "query_base64": b64(kv.Encode(kv.OpGet, "fut")), "token": future}), 400, "token_ahead")
	})
}

// Every 4xx the API promises, each produced by a real request.
func TestInputErrors(t *testing.T) {
	c := rapstest.New(t, 3)
	a := newFront(t, c, 100, func(cfg *dispatcher.Config) { cfg.MaxBody = 64 << 10 })
	a.waitMap(c)
	long := strings.Repeat("k", 4097)
	q := b64(kv.Encode(kv.OpGet, "x"))
	cases := []struct {
		name, method, path string
		body               any
		hdr                []string
		status             int
		code               string
	}{
		{"bad json", "POST", "/v1/services/kv/update", "{not json", nil, 400, "bad_json"},
		{"json not an object", "POST", "/v1/services/kv/update", `["a"]`, nil, 400, "bad_json"},
		{"unknown field", "POST", "/v1/services/kv/update", `{"key":"a","op":"x","extra":1}`, nil, 400, "bad_json"},
		{"trailing data", "POST", "/v1/services/kv/update", `{"key":"a","op":"x"} {}`, nil, 400, "bad_json"},
		{"empty body", "POST", "/v1/services/kv/query", "", nil, 400, "bad_json"},
		{"no key", "POST", "/v1/services/kv/update", `{"op":"x"}`, nil, 400, "bad_json"},
		{"key and key_base64", "POST", "/v1/services/kv/update", `{"key":"a","key_base64":"YQ==","op":"x"}`, nil, 400, "bad_json"},
		{"bad base64", "POST", "/v1/services/kv/update", `{"key":"a","op_base64":"!!"}`, nil, 400, "bad_base64"},
		{"empty key", "POST", "/v1/services/kv/update", `{"key":"","op":"x"}`, nil, 400, "bad_key"},
		{"empty kv key", "GET", "/v1/kv/", nil, nil, 400, "bad_key"},
		{"key too long (generic)", "POST", "/v1/services/kv/query", map[string]string{"key": long, "query": "x"}, nil, 400, "key_too_long"},
		{"key too long (kv)", "GET", "/v1/kv/" + long, nil, nil, 400, "key_too_long"},
		{"bad consistency", "GET", "/v1/kv/x?consistency=eventual", nil, nil, 400, "bad_consistency"},
		{"bad consistency (query)", "POST", "/v1/services/kv/query", map[string]string{"key": "x", "query_base64": q, "consistency": "weak"}, nil, 400, "bad_consistency"},
		{"session scatter", "POST", "/v1/services/kv/scatter", map[string]string{"query_base64": q, "consistency": "session"}, nil, 400, "bad_consistency"},
		{"session without token", "GET", "/v1/kv/x?consistency=session", nil, nil, 400, "bad_token"},
		{"malformed token", "GET", "/v1/kv/x?token=abc", nil, nil, 400, "bad_token"},
		{"token with zero group", "GET", "/v1/kv/x?token=0.1.1", nil, nil, 400, "bad_token"},
		{"token too long", "GET", "/v1/kv/x?token=" + strings.Repeat("1", 100), nil, nil, 400, "bad_token"},
		{"bad encoding", "GET", "/v1/kv/x/list?encoding=hex", nil, nil, 400, "bad_encoding"},
		{"idempotency keys differ", "POST", "/v1/services/kv/update", `{"key":"a","op":"x","idempotency_key":"one"}`, []string{"Idempotency-Key", "two"}, 400, "bad_idempotency_key"},
		{"idempotency key too long", "PUT", "/v1/kv/x", "v", []string{"Idempotency-Key", strings.Repeat("i", 129)}, 400, "bad_idempotency_key"},
		{"bad kv query (generic)", "POST", "/v1/services/kv/query", `{"key":"a","query":"garbage","consistency":"strict"}`, nil, 400, "bad_query"},
		{"unknown service (update)", "POST", "/v1/services/nope/update", `{"key":"a","op":"x"}`, nil, 404, "unknown_service"},
		{"unknown service (query)", "POST", "/v1/services/nope/query", `{"key":"a","query":"x"}`, nil, 404, "unknown_service"},
		{"unknown service (scatter)", "POST", "/v1/services/nope/scatter", `{"query":"x"}`, nil, 404, "unknown_service"},
		{"unknown service with token", "POST", "/v1/services/nope/query", `{"key":"a","query":"x","token":"2.1.1"}`, nil, 404, "unknown_service"},
		{"missing key", "GET", "/v1/kv/never-written?consistency=strict", nil, nil, 404, "not_found"},
		{"unknown route", "GET", "/v2/whatever", nil, nil, 404, "unknown_route"},
		{"unknown kv subroute", "GET", "/v1/kv/x/y/z", nil, nil, 404, "unknown_route"},
		{"wrong method", "PATCH", "/v1/kv/x", nil, nil, 405, "method_not_allowed"},
		{"wrong method (generic)", "GET", "/v1/services/kv/update", nil, nil, 405, "method_not_allowed"},
		{"odd method", "BREW", "/v1/kv/x", nil, nil, 405, "method_not_allowed"},
		{"body too large", "PUT", "/v1/kv/big", strings.Repeat("v", 64<<10+1), nil, 413, "too_large"},
		{"json body too large", "POST", "/v1/services/kv/update", `{"key":"a","op":"` + strings.Repeat("v", 64<<10) + `"}`, nil, 413, "too_large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := a.with(t)
			r := a.want(a.do(tc.method, tc.path, tc.body, tc.hdr), tc.status, tc.code)
			if len(r.message(t)) < 10 {
				t.Fatalf("message says too little: %s", r.body)
			}
			if tc.status == 405 && r.header.Get("Allow") == "" && tc.method != "BREW" {
				t.Fatalf("405 without Allow: %v", r.header)
			}
			if tc.status == 413 && !strings.Contains(r.message(t), "65536") {
				t.Fatalf("413 does not name the limit: %s", r.body)
			}
		})
	}
	t.Run("a bad op is the service's to answer", func(t *testing.T) {
		// The generic API carries any service's result as it is: kv
		// answers a malformed command with its bad-input status.
		a := a.with(t)
		r := a.want(a.do("POST", "/v1/services/kv/update", `{"key":"a","op":"garbage"}`), 200, "")
		if r.json(t)["result_base64"] != b64([]byte{kv.StatusBadInput}) {
			t.Fatalf("bad op: %s", r.body)
		}
	})
	t.Run("exactly the limit", func(t *testing.T) {
		a := a.with(t)
		v := strings.Repeat("v", 64<<10)
		a.want(a.do("PUT", "/v1/kv/big", v), 200, "")
		if g := a.want(a.do("GET", "/v1/kv/big?consistency=strict"), 200, ""); len(g.body) != len(v) {
			t.Fatalf("read back %d bytes", len(g.body))
		}
	})
	t.Run("default limits: a full MiB is 413, never 503", func(t *testing.T) {
		d := newFront(t, c, 101, nil)
		d.waitMap(c)
		r := d.want(d.do("PUT", "/v1/kv/huge", strings.Repeat("v", 1<<20)), 413, "too_large")
		t.Logf("1 MiB value: %s", r.message(t))
		d.want(d.do("PUT", "/v1/kv/huge", strings.Repeat("v", 1<<20-4096)), 200, "")
	})
	t.Run("livez readyz", func(t *testing.T) {
		a := a.with(t)
		a.want(a.do("GET", "/livez"), 200, "")
		a.want(a.do("GET", "/readyz"), 200, "")
		m := a.want(a.do("GET", "/v1/map"), 200, "").json(t)
		if m["epoch"] == nil || m["partitions"] == nil {
			t.Fatalf("map: %v", m)
		}
	})
}

// A front end whose cluster has no map answers 503 not_applied with
// Retry-After, and is not ready; a Config.Ready error shows in /readyz.
func TestNoMap503(t *testing.T) {
	c := rapstest.New(t, 1, rapstest.WithoutBootstrap())
	a := newFront(t, c, 100, func(cfg *dispatcher.Config) { cfg.RequestTimeout = time.Second; cfg.TokenWait = 200 * time.Millisecond })
	for _, r := range []reply{
		a.do("PUT", "/v1/kv/x", "v"),
		a.do("GET", "/v1/kv/x"),
		a.do("POST", "/v1/services/kv/scatter", `{"query":"x"}`),
		a.do("GET", "/v1/map"),
		a.do("GET", "/v1/kv/x?token=2.1.5"),
	} {
		a.want(r, 503, "not_applied")
		if r.header.Get("Retry-After") == "" {
			t.Fatalf("503 without Retry-After: %v", r.header)
		}
	}
	r := a.want(a.do("GET", "/readyz"), 503, "not_ready")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("readyz 503 without Retry-After")
	}
	b := newFront(t, c, 101, func(cfg *dispatcher.Config) { cfg.Ready = func() error { return errors.New("draining for shutdown") } })
	if r := b.want(b.do("GET", "/readyz"), 503, "not_ready"); !strings.Contains(r.message(t), "draining for shutdown") {
		t.Fatalf("readyz: %s", r.body)
	}
	b.want(b.do("GET", "/livez"), 200, "")
}

// A front end cut off from every node after it learned the map: an
// update's deadline passes after it may have been ordered (504
// outcome_unknown, with nothing to retry safely but the same idempotency
// key); a read's deadline is a 503 not_applied; healed, both work, and the
// retried update applied once.
func TestCutOffFrontEnd(t *testing.T) {
	c := rapstest.New(t, 3, rapstest.WithAttemptTimeout(300*time.Millisecond))
	a := newFront(t, c, 100, func(cfg *dispatcher.Config) {
		cfg.RequestTimeout = 1500 * time.Millisecond
		cfg.TokenWait = 500 * time.Millisecond
	})
	a.waitMap(c)
	a.want(a.do("GET", "/v1/kv/cut?consistency=strict"), 404, "not_found")
	c.Net().Isolate(100)
	r := a.want(a.do("POST", "/v1/kv/cut/append", "e", "Idempotency-Key", "cut-1"), 504, "outcome_unknown")
	if !strings.Contains(r.message(t), "idempotency key") {
		t.Fatalf("504 message: %s", r.body)
	}
	g := a.want(a.do("GET", "/v1/kv/cut"), 503, "not_applied")
	if g.header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	c.Heal()
	// The retry with the same key: applied once whatever happened before.
	r = a.want(a.do("POST", "/v1/kv/cut/append", "e", "Idempotency-Key", "cut-1"), 200, "")
	if r.json(t)["length"] != 1.0 {
		t.Fatalf("retried append: %s", r.body)
	}
}

// A scatter over a service one of whose partitions has lost every clone
// answers the others and flags the result partial.
func TestScatterPartial(t *testing.T) {
	svc := rapstest.KVService(4, 1, 1) // one clone per partition, Memory
	c := rapstest.New(t, 4, rapstest.WithServices(svc), rapstest.WithAttemptTimeout(300*time.Millisecond))
	a := newFront(t, c, 100, func(cfg *dispatcher.Config) { cfg.RequestTimeout = 2 * time.Second })
	a.waitMap(c)
	parts, err := a.fe.Map().ServicePartitions("kv") // not the management group's
	if err != nil {
		t.Fatal(err)
	}
	victim := parts[0].Clones[0].Node
	lost := 0
	for i := range parts {
		if parts[i].Clones[0].Node == victim {
			lost++
		}
	}
	q := map[string]string{"query_base64": b64(kv.Encode(kv.OpGet, "x"))}
	if s := a.want(a.do("POST", "/v1/services/kv/scatter", q), 200, "").json(t); s["partial"] != false {
		t.Fatalf("scatter before the kill: %v", s)
	}
	c.Kill(groupcomm.NodeID(victim))
	s := a.want(a.do("POST", "/v1/services/kv/scatter", q), 200, "").json(t)
	res := s["results"].([]any)
	failed := 0
	for _, p := range res {
		pm := p.(map[string]any)
		if e, ok := pm["error"].(map[string]any); ok {
			failed++
			if e["code"] != "not_applied" {
				t.Fatalf("failed partition's error: %v", e)
			}
		} else if pm["result_base64"] != b64([]byte{kv.StatusNotFound}) {
			t.Fatalf("partition answer: %v", pm)
		}
	}
	if s["partial"] != true || len(res) != 4 || failed != lost {
		t.Fatalf("scatter after killing node %d (%d partitions lost): %v", victim, lost, s)
	}
}
