package room

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/raps/fanout"
	"github.com/quicksilver-go/quicksilver/raps/rapstest"
)

// chat is a 3-node cluster with the rooms service, a front end and the
// chat's routes over real HTTP.
type chat struct {
	t   *testing.T
	c   *rapstest.Cluster
	s   *server
	srv *httptest.Server
}

func newChat(t *testing.T) *chat {
	c := rapstest.New(t, 3, rapstest.WithServices(Service()))
	fe := c.FrontEnd(100)
	c.WaitFrontEnd(fe, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s := &server{c: fe, hub: fanout.New(ctx, fe, fanout.DefaultOptions())}
	mux := http.NewServeMux()
	mux.Handle("/chat/", http.StripPrefix("/chat", s.routes()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &chat{t: t, c: c, s: s, srv: srv}
}

// post sends a message, retrying (with its key) while the cluster is
// unavailable, as the page does.
func (ch *chat) post(room, user, text string) {
	ch.t.Helper()
	key := fmt.Sprintf("%s-%s", user, text)
	for try := 0; ; try++ {
		req, _ := http.NewRequest("POST", ch.srv.URL+"/chat/rooms/"+room, strings.NewReader(fmt.Sprintf(`{"user":%q,"text":%q}`, user, text)))
		req.Header.Set("Idempotency-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
			if resp.StatusCode < 500 {
				ch.t.Fatalf("post %q: %d", text, resp.StatusCode)
			}
		}
		if try > 200 {
			ch.t.Fatalf("post %q: still failing: %v", text, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// history reads a room's messages and token.
func (ch *chat) history(room string) ([]Message, string) {
	ch.t.Helper()
	resp, err := http.Get(ch.srv.URL + "/chat/rooms/" + room)
	if err != nil {
		ch.t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct {
		Messages []Message `json:"messages"`
		Token    string    `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil || resp.StatusCode != 200 {
		ch.t.Fatalf("history: %d %v", resp.StatusCode, err)
	}
	return h.Messages, h.Token
}

// reader follows a room's events as a page would (reconnecting with
// Last-Event-ID when its stream ends) and keeps the messages.
type reader struct {
	mu   sync.Mutex
	msgs []string
	ids  []string
}

func (ch *chat) follow(ctx context.Context, room, from string) *reader {
	rd := &reader{}
	go func() {
		last := from
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, "GET", ch.srv.URL+"/chat/rooms/"+room+"/events?from="+from, nil)
			req.Header.Set("Last-Event-ID", last)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			sc := bufio.NewScanner(resp.Body)
			var id, event string
			for sc.Scan() {
				line := sc.Text()
				switch {
				case strings.HasPrefix(line, "id: "):
					id = line[4:]
				case strings.HasPrefix(line, "event: "):
					event = line[7:]
				case strings.HasPrefix(line, "data: ") && event == "message":
					var m Message
					_ = json.Unmarshal([]byte(line[6:]), &m)
					rd.mu.Lock()
					rd.msgs = append(rd.msgs, m.Room+"/"+m.User+":"+m.Text)
					rd.ids = append(rd.ids, id)
					rd.mu.Unlock()
				case line == "":
					if id != "" {
						last = id
					}
					id, event = "", ""
				}
			}
			resp.Body.Close()
		}
	}()
	return rd
}

func (rd *reader) got() []string {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return append([]string(nil), rd.msgs...)
}

// Two pages of one room and one of another, on one front end: every page
// sees every message of its room once, in one order, across the crash of
// a node; the two pages of the room share one upstream stream.
func TestRoomsStreamAcrossACrash(t *testing.T) {
	ch := newChat(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch.post("lobby", "ann", "first")
	hist, tok := ch.history("lobby")
	if len(hist) != 1 || hist[0].Text != "first" {
		t.Fatalf("history %+v", hist)
	}
	_, otok := ch.history("other")
	a, b, o := ch.follow(ctx, "lobby", tok), ch.follow(ctx, "lobby", tok), ch.follow(ctx, "other", otok)
	var want []string
	say := func(room, user, text string) {
		ch.post(room, user, text)
		if room == "lobby" {
			want = append(want, "lobby/"+user+":"+text)
		}
	}
	for i := range 10 {
		say("lobby", []string{"ann", "bob"}[i%2], fmt.Sprint("m", i))
	}
	say("other", "cid", "elsewhere")
	ch.c.WaitFor("both pages saw 10 messages", time.Minute, func() bool { return len(a.got()) >= 10 && len(b.got()) >= 10 })
	streams := ch.s.hub.Streams()
	lobby, _ := ch.s.c.Map().Locate(ServiceName, []byte("lobby"))
	attached := groupcomm.NodeID(ch.s.hub.Clone(ServiceName, lobby.ID))
	if streams > 2 {
		t.Fatalf("%d upstream streams for 3 pages of 2 rooms: the pages of a room must share one", streams)
	}
	if attached == 0 {
		t.Fatal("the room's stream names no clone")
	}
	ch.c.Kill(attached) // the clone the room's stream comes from
	for i := 10; i < 20; i++ {
		say("lobby", []string{"ann", "bob"}[i%2], fmt.Sprint("m", i))
	}
	ch.c.WaitFor("both pages saw 20 messages", time.Minute, func() bool { return len(a.got()) >= 20 && len(b.got()) >= 20 })
	for name, r := range map[string]*reader{"a": a, "b": b} {
		if g := r.got(); fmt.Sprint(g) != fmt.Sprint(want) {
			t.Fatalf("page %s saw\n %v\nwant\n %v", name, g, want)
		}
	}
	ch.c.WaitFor("the other room's page saw its message", time.Minute, func() bool { return len(o.got()) >= 1 })
	if g := o.got(); len(g) != 1 || g[0] != "other/cid:elsewhere" {
		t.Fatalf("the other room's page saw %v", g)
	}
}

func TestRoomsRefuseBadInput(t *testing.T) {
	ch := newChat(t)
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"POST", "/chat/rooms/lobby", `{"user":"ann","text":""}`, 400},
		{"POST", "/chat/rooms/lobby", `{"user":"a b","text":"x"}`, 400},
		{"POST", "/chat/rooms/lobby", `not json`, 400},
		{"POST", "/chat/rooms/bad%20room", `{"user":"ann","text":"x"}`, 400},
		{"POST", "/chat/rooms/lobby", `{"user":"ann","text":"` + strings.Repeat("x", 600) + `"}`, 400},
		{"GET", "/chat/rooms/lobby/events", ``, 400},
		{"GET", "/chat/rooms/lobby/events?from=x", ``, 400},
	} {
		req, _ := http.NewRequest(tc.method, ch.srv.URL+tc.path, strings.NewReader(tc.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s %.40s: %d, want %d", tc.method, tc.path, tc.body, resp.StatusCode, tc.status)
		}
	}
	if h, _ := ch.history("lobby"); len(h) != 0 {
		t.Fatalf("refused posts changed the room: %+v", h)
	}
}
