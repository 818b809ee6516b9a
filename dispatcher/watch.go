package dispatcher

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/raps/fanout"
)

// GET /v1/services/{svc}/watch?key=K | ?partition=N [&from=TOKEN]
//
// streams the partition's applied updates as server-sent events
// (raps.Client.Subscribe), each with its token as the event id:
//
//	event: update     data: {"token", "partition", "view", "clone", "update"|"update_base64", "result"|"result_base64"}
//	event: heartbeat  data: {"token"}       (about every second while nothing happens)
//	event: error      data: {"error": {"code", "message"}, "floor"?}  (then the stream ends)
//
// A reconnecting EventSource sends Last-Event-ID, which resumes after
// that event (it overrides from); without either the stream starts from
// now. An error code "compacted" means the updates after the token are no
// longer kept: read the state (a strict query; its QS-Token) and watch
// again from that token ("floor" is the oldest token a clone still has).
// Errors found before the stream starts (an unknown service, a bad token)
// are ordinary JSON errors with their status.

// watchWriteTimeout bounds the write of one event: a client that does not
// read for that long is dropped (a slow consumer never holds a clone's
// stream; the clone keeps nothing per subscriber).
const watchWriteTimeout = 30 * time.Second

type watchEvent struct {
	Token        string  `json:"token"`
	Partition    int     `json:"partition"`
	View         uint64  `json:"view,omitempty"`
	Clone        uint64  `json:"clone,omitempty"`
	Update       *string `json:"update,omitempty"`
	UpdateBase64 string  `json:"update_base64,omitempty"`
	Result       *string `json:"result,omitempty"`
	ResultBase64 string  `json:"result_base64,omitempty"`
}

func textOrBase64(b []byte) (*string, string) {
	if utf8.Valid(b) {
		s := string(b)
		return &s, ""
	}
	return nil, base64.StdEncoding.EncodeToString(b)
}

func (x *Dispatcher) watch(w http.ResponseWriter, r *http.Request) {
	svc, err := x.service(r)
	if err != nil {
		writeError(w, err.(*apiError))
		return
	}
	p, err := x.watchPartition(r, svc)
	if err != nil {
		x.fail(w, r, err, read)
		return
	}
	from := r.URL.Query().Get("from")
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		from = id
	}
	tok, have, err := parseToken(from)
	if err != nil {
		x.fail(w, r, err, read)
		return
	}
	if have && (tok.group != p.Group || tok.tok.Incarnation != p.Incarnation) {
		x.fail(w, r, badRequest("bad_token", "token %q is of group %d incarnation %d; partition %d of %q is group %d incarnation %d",
			truncate(from, 80), tok.group, tok.tok.Incarnation, p.ID, svc, p.Group, p.Incarnation), read)
		return
	}
	select {
	case x.watchers <- struct{}{}:
		defer func() { <-x.watchers }()
	default:
		writeError(w, newError(http.StatusServiceUnavailable, "busy", "more than %d watches open; retry later", x.cfg.MaxWatchers))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Set("QS-Partition", strconv.Itoa(p.ID))
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(event, id string, v any) bool {
		b, err := json.Marshal(v)
		if err != nil {
			return false
		}
		_ = rc.SetWriteDeadline(time.Now().Add(watchWriteTimeout))
		if id != "" {
			fmt.Fprintf(w, "id: %s\n", id)
		}
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
		return rc.Flush() == nil
	}
	_ = rc.SetWriteDeadline(time.Now().Add(watchWriteTimeout))
	fmt.Fprint(w, "retry: 1000\n\n") // EventSource reconnects after a second
	if rc.Flush() != nil {
		return
	}
	// Every watch of a partition on this front end shares one upstream
	// (raps/fanout); a watch that falls behind is dropped and its
	// EventSource resumes from its Last-Event-ID.
	evs, stop := x.hub.Watch(svc, p.ID, tok.tok, nil)
	defer stop()
	for {
		var ev fanout.Event
		var open bool
		select {
		case <-r.Context().Done():
			return
		case ev, open = <-evs:
		}
		if !open {
			return
		}
		if err := ev.Err; err != nil {
			e := classify(err, read)
			body := map[string]any{"error": map[string]string{"code": e.code, "message": e.msg}}
			if ce, ok := errors.AsType[*racs.CompactedError](err); ok {
				body["error"] = map[string]string{"code": "compacted", "message": err.Error()}
				body["floor"] = formatToken(p.Group, ce.Floor)
			} else if errors.Is(err, racs.ErrCompacted) {
				body["error"] = map[string]string{"code": "compacted", "message": err.Error()}
			}
			send("error", "", body)
			return
		}
		id := formatToken(ev.Group, ev.Token)
		if ev.Heartbeat {
			if !send("heartbeat", id, map[string]string{"token": id}) {
				return
			}
			continue
		}
		out := watchEvent{Token: id, Partition: ev.Partition.ID, View: ev.View, Clone: uint64(ev.Clone)}
		out.Update, out.UpdateBase64 = textOrBase64(ev.Update)
		out.Result, out.ResultBase64 = textOrBase64(ev.Result)
		if !send("update", id, out) {
			return
		}
	}
}

// watchPartition reads ?key= or ?partition= (exactly one) and finds the
// partition in the Router's map.
func (x *Dispatcher) watchPartition(r *http.Request, svc string) (*partitionmap.Partition, error) {
	q := r.URL.Query()
	key, hasKey := q.Get("key"), q.Has("key")
	ps, hasPart := q.Get("partition"), q.Has("partition")
	if hasKey == hasPart {
		return nil, badRequest("bad_target", "give exactly one of ?key= and ?partition=")
	}
	m := x.rt.Map()
	if m == nil {
		return nil, raps.ErrNoMap
	}
	if s, err := m.Service(svc); err == nil && s.Retain == 0 {
		return nil, fmt.Errorf("%w: %q has retain 0", raps.ErrNoStream, svc)
	}
	if hasKey {
		if key == "" || len(key) > x.cfg.MaxKey {
			return nil, badRequest("bad_key", "key of %d bytes: keys have 1 to %d bytes", len(key), x.cfg.MaxKey)
		}
		p, err := m.Locate(svc, []byte(key))
		if errors.Is(err, partitionmap.ErrUnknownService) {
			return nil, fmt.Errorf("%w: %q", raps.ErrUnknownService, svc)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", raps.ErrBadKey, err)
		}
		return p, nil
	}
	id, err := strconv.Atoi(ps)
	if err != nil || id < 0 {
		return nil, badRequest("bad_partition", "partition %q is not a partition number", truncate(ps, 40))
	}
	p, err := m.Partition(partitionmap.PartRef{Service: svc, ID: id})
	switch {
	case errors.Is(err, partitionmap.ErrUnknownService):
		return nil, fmt.Errorf("%w: %q", raps.ErrUnknownService, svc)
	case err != nil:
		return nil, newError(http.StatusNotFound, "unknown_partition", "service %q has no partition %d", svc, id)
	}
	return p, nil
}
