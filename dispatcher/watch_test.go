package dispatcher_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/kv"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/raps/rapstest"
)

// sseEvent is one server-sent event.
type sseEvent struct {
	event, id string
	data      map[string]any
}

// readEvents reads events from a watch until it has n (or the stream ends).
func readEvents(t *testing.T, f *front, path string, lastID string, n int, skipBeats bool) (int, []sseEvent) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+path, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() && len(out) < n {
		line := sc.Text()
		switch {
		case line == "":
			if cur.event != "" && !(skipBeats && cur.event == "heartbeat") {
				out = append(out, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			cur.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			cur.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(line[6:]), &cur.data); err != nil {
				t.Fatalf("event data %q: %v", line, err)
			}
		}
	}
	return resp.StatusCode, out
}

// putValue decodes a kv put's value from an update event.
func putValue(t *testing.T, ev sseEvent) string {
	t.Helper()
	var b []byte
	if u, ok := ev.data["update"].(string); ok {
		b = []byte(u)
	} else {
		var err error
		if b, err = base64.StdEncoding.DecodeString(fmt.Sprint(ev.data["update_base64"])); err != nil {
			t.Fatalf("event %+v: %v", ev, err)
		}
	}
	op, _, vals, err := kv.Decode(b)
	if err != nil || op != kv.OpPut || len(vals) != 1 {
		t.Fatalf("event %+v is not a put: %v", ev, err)
	}
	return string(vals[0])
}

func TestWatchStreamsAPartitionsUpdates(t *testing.T) {
	svc := rapstest.KVService(2, 3, partitionmap.Memory)
	svc.Retain = 16
	c := rapstest.New(t, 3, rapstest.WithServices(svc))
	f := newFront(t, c, 100, nil)
	f.waitMap(c)
	put := func(v string) string {
		r := f.want(f.do("PUT", "/v1/kv/room", v), 200, "")
		return r.header.Get("QS-Token")
	}
	first := put("v0")
	for i := 1; i <= 10; i++ {
		put(fmt.Sprint("v", i))
	}
	path := "/v1/services/kv/watch?key=room&from=" + url.QueryEscape(first)
	_, evs := readEvents(t, f, path, "", 10, true)
	if len(evs) != 10 {
		t.Fatalf("%d events, want 10: %+v", len(evs), evs)
	}
	for i, ev := range evs {
		if ev.event != "update" || putValue(t, ev) != fmt.Sprint("v", i+1) || ev.id != ev.data["token"] {
			t.Fatalf("event %d: %+v, want the update v%d with its token as id", i, ev, i+1)
		}
	}
	// Last-Event-ID resumes after that event (and overrides from).
	_, evs2 := readEvents(t, f, path, evs[6].id, 3, true)
	if len(evs2) != 3 || putValue(t, evs2[0]) != "v8" || putValue(t, evs2[2]) != "v10" {
		t.Fatalf("resumed after %s: %+v, want v8..v10", evs[6].id, evs2)
	}
	// A quiet stream sends heartbeats carrying the position.
	_, beats := readEvents(t, f, "/v1/services/kv/watch?key=room&from="+url.QueryEscape(evs[9].id), "", 1, false)
	if len(beats) != 1 || beats[0].event != "heartbeat" || beats[0].id == "" {
		t.Fatalf("quiet stream: %+v, want a heartbeat", beats)
	}
	// Far behind the retention: an error event "compacted" with a floor.
	for i := 11; i <= 40; i++ {
		put(fmt.Sprint("v", i))
	}
	_, errs := readEvents(t, f, path, "", 1, true)
	if len(errs) != 1 || errs[0].event != "error" || errs[0].data["floor"] == nil ||
		errs[0].data["error"].(map[string]any)["code"] != "compacted" {
		t.Fatalf("behind the retention: %+v, want an error event compacted with a floor", errs)
	}
	// Bad requests are JSON errors before any stream.
	for _, tc := range []struct {
		path   string
		status int
		code   string
	}{
		{"/v1/services/kv/watch", 400, "bad_target"},
		{"/v1/services/kv/watch?key=a&partition=0", 400, "bad_target"},
		{"/v1/services/nope/watch?key=a", 404, "unknown_service"},
		{"/v1/services/kv/watch?partition=9", 404, "unknown_partition"},
		{"/v1/services/kv/watch?partition=x", 400, "bad_partition"},
		{"/v1/services/kv/watch?key=room&from=1.2", 400, "bad_token"},
		{"/v1/services/kv/watch?key=room&from=999.1.5", 400, "bad_token"},
	} {
		f.want(f.do("GET", tc.path), tc.status, tc.code)
	}
}

// A service's type shows through the API: a read level it does not serve
// is a 400 bad_consistency, a watch of a service that keeps no stream a
// 400 no_stream.
func TestServiceTypeErrors(t *testing.T) {
	cache := rapstest.KVService(2, 3, partitionmap.Memory)
	cache.Name, cache.Reads, cache.Retain = "cache", partitionmap.ReadAny, 0
	c := rapstest.New(t, 3, rapstest.WithServices(cache))
	f := newFront(t, c, 100, nil)
	f.waitMap(c)
	f.want(f.do("POST", "/v1/services/cache/query", map[string]any{"key": "k", "query": "x", "consistency": "strict"}), 400, "bad_consistency")
	f.want(f.do("GET", "/v1/services/cache/watch?key=k"), 400, "no_stream")
}
