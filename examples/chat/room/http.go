package room

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/raps/fanout"
)

// Routes returns the chat's page and API over c, relative to where the
// caller mounts them (r.Mount("/chat", room.Routes(ctx, c))); ctx bounds
// the shared upstream streams.
//
//	GET  /                         the page (?room=&user=)
//	GET  /rooms/{room}             {"messages": [...], "token"}: the room's last messages (strict)
//	POST /rooms/{room}             {"user", "text"}; Idempotency-Key header → {"token"}
//	GET  /rooms/{room}/events      ?from=TOKEN or Last-Event-ID: server-sent events
//	                               "message" (a Message, its token as id), "heartbeat", "error"
func Routes(ctx context.Context, c *raps.Client) http.Handler {
	return (&server{c: c, hub: fanout.New(ctx, c, fanout.DefaultOptions())}).routes()
}

func (s *server) routes() http.Handler {
	r := chi.NewRouter()
	r.Get("/", s.page)
	r.Get("/rooms/{room}", s.history)
	r.Post("/rooms/{room}", s.post)
	r.Get("/rooms/{room}/events", s.events)
	return r
}

type server struct {
	c   *raps.Client
	hub *fanout.Hub // one upstream per partition for all the pages here
}

// messageOf reads a room's message from a stream event (false: another
// room's, or a post the service refused).
func messageOf(ev raps.Event, room string) (Message, bool) {
	var m Message
	if json.Unmarshal(ev.Update, &m) != nil || string(ev.Result) != "ok" || m.Room != room {
		return Message{}, false
	}
	return m, true
}

//go:embed page.html
var pageHTML string

var pageTmpl = template.Must(template.New("page").Parse(pageHTML))

func (s *server) page(w http.ResponseWriter, r *http.Request) {
	room, user := r.URL.Query().Get("room"), r.URL.Query().Get("user")
	if room == "" {
		room = "lobby"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = pageTmpl.Execute(w, map[string]any{"Room": room, "User": user,
		"Valid": validName(room, MaxRoomLen) && (user == "" || validName(user, MaxUserLen))})
}

func formatToken(t racs.Token) string { return fmt.Sprintf("%d.%d", t.Incarnation, t.Seq) }

func parseToken(s string) (racs.Token, error) {
	a, b, ok := strings.Cut(s, ".")
	inc, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || inc == 0 {
		return racs.Token{}, fmt.Errorf("token %q is not INCARNATION.SEQ", s)
	}
	return racs.Token{Incarnation: inc, Seq: seq}, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, code, msg string) {
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// failCluster maps the Router's errors: retryable ones are 503.
func failCluster(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, raps.ErrOutcomeUnknown):
		fail(w, http.StatusGatewayTimeout, "outcome_unknown", err.Error())
	default:
		fail(w, http.StatusServiceUnavailable, "unavailable", err.Error())
	}
}

func (s *server) roomOf(w http.ResponseWriter, r *http.Request) (string, bool) {
	room := chi.URLParam(r, "room")
	if !validName(room, MaxRoomLen) {
		fail(w, http.StatusBadRequest, "bad_room", "room: 1 to 64 letters, digits and -_.")
		return "", false
	}
	return room, true
}

func (s *server) history(w http.ResponseWriter, r *http.Request) {
	room, ok := s.roomOf(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	res, err := s.c.Query(ctx, ServiceName, []byte(room), []byte(room), racs.Strict, racs.Token{})
	if err != nil {
		failCluster(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": json.RawMessage(res.Data), "token": formatToken(res.Token)})
}

func (s *server) post(w http.ResponseWriter, r *http.Request) {
	room, ok := s.roomOf(w, r)
	if !ok {
		return
	}
	var m Message
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&m); err != nil {
		fail(w, http.StatusBadRequest, "bad_json", "the body is {\"user\", \"text\"}: "+err.Error())
		return
	}
	m.Room = room
	if why := m.valid(); why != "" {
		fail(w, http.StatusBadRequest, "bad_message", why)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 64 {
		fail(w, http.StatusBadRequest, "bad_idempotency_key", "at most 64 bytes")
		return
	}
	if key != "" {
		key = "chat/" + room + "/" + key
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	b, _ := json.Marshal(m)
	res, err := s.c.Update(ctx, ServiceName, []byte(room), b, raps.UpdateOptions{IdempotencyKey: key})
	if err != nil {
		failCluster(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": formatToken(res.Token)})
}

func (s *server) events(w http.ResponseWriter, r *http.Request) {
	room, ok := s.roomOf(w, r)
	if !ok {
		return
	}
	from := r.URL.Query().Get("from")
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		from = id
	}
	tok, err := parseToken(from)
	if err != nil {
		fail(w, http.StatusBadRequest, "bad_token", err.Error()+" (read /rooms/{room} first: its token)")
		return
	}
	m := s.c.Map()
	if m == nil {
		fail(w, http.StatusServiceUnavailable, "unavailable", "no partition map yet")
		return
	}
	p, err := m.Locate(ServiceName, []byte(room))
	if err != nil {
		fail(w, http.StatusServiceUnavailable, "unavailable", err.Error())
		return
	}
	evs, stop := s.hub.Watch(ServiceName, p.ID, tok, func(ev raps.Event) bool {
		_, ok := messageOf(ev, room)
		return ok
	})
	defer stop()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	fmt.Fprint(w, "retry: 1000\n\n")
	if rc.Flush() != nil {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case ev, open := <-evs:
			if !open {
				return // dropped as slow, or the stream ended: the browser reconnects
			}
			_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
			switch {
			case ev.Err != nil:
				code := "unavailable"
				if errors.Is(ev.Err, racs.ErrCompacted) || errors.Is(ev.Err, racs.ErrBadToken) {
					code = "compacted" // the page reloads the history and starts again
				}
				b, _ := json.Marshal(map[string]string{"code": code, "message": ev.Err.Error()})
				fmt.Fprintf(w, "event: error\ndata: %s\n\n", b)
				_ = rc.Flush()
				return
			case ev.Heartbeat:
				fmt.Fprintf(w, "id: %s\nevent: heartbeat\ndata: {}\n\n", formatToken(ev.Token))
			default:
				m, _ := messageOf(ev.Event, room)
				b, _ := json.Marshal(m)
				fmt.Fprintf(w, "id: %s\nevent: message\ndata: %s\n\n", formatToken(ev.Token), b)
			}
			if rc.Flush() != nil {
				return
			}
		}
	}
}
