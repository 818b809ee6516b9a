package dispatcher

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
)

// The generic API (docs/design.md §6): any service's update, query and scatter,
// with binary payloads carried by the convention of doc.go: a field is a
// JSON string of the bytes' UTF-8 text, or its "_base64" twin carries
// them in standard base64; giving both is a 400.

type updateRequest struct {
	Key            *string `json:"key"`
	KeyBase64      *string `json:"key_base64"`
	Op             *string `json:"op"`
	OpBase64       *string `json:"op_base64"`
	IdempotencyKey string  `json:"idempotency_key"`
}

type queryRequest struct {
	Key         *string `json:"key"`
	KeyBase64   *string `json:"key_base64"`
	Query       *string `json:"query"`
	QueryBase64 *string `json:"query_base64"`
	Consistency string  `json:"consistency"`
	Token       string  `json:"token"`
}

type scatterRequest struct {
	Query       *string `json:"query"`
	QueryBase64 *string `json:"query_base64"`
	Consistency string  `json:"consistency"`
}

// answer is an update's or a query's answer.
type answer struct {
	Result       *string `json:"result,omitempty"` // the result as text, when it is valid UTF-8
	ResultBase64 string  `json:"result_base64"`
	Token        string  `json:"token,omitempty"`
	Partition    int     `json:"partition"`
	View         uint64  `json:"view,omitempty"`
	Clone        uint64  `json:"clone,omitempty"`
}

func newAnswer(res raps.Result) answer {
	a := answer{ResultBase64: base64.StdEncoding.EncodeToString(res.Data), Token: tokenOf(res),
		Partition: res.Partition.ID, View: res.View, Clone: uint64(res.Clone)}
	if utf8.Valid(res.Data) {
		s := string(res.Data)
		a.Result = &s
	}
	return a
}

// bytesField reads a field given as text or as its base64 twin.
func bytesField(name string, text, b64 *string, required bool) ([]byte, error) {
	switch {
	case text != nil && b64 != nil:
		return nil, badRequest("bad_json", "give %s or %s_base64, not both", name, name)
	case text != nil:
		return []byte(*text), nil
	case b64 != nil:
		b, err := base64.StdEncoding.DecodeString(*b64)
		if err != nil {
			return nil, badRequest("bad_base64", "%s_base64 is not standard base64: %v", name, err)
		}
		return b, nil
	case required:
		return nil, badRequest("bad_json", "%s (or %s_base64) is required", name, name)
	}
	return nil, nil
}

func (x *Dispatcher) service(r *http.Request) (string, error) {
	svc := chi.URLParam(r, "svc")
	if r.URL.RawPath != "" { // chi routed on the escaped path
		u, err := url.PathUnescape(svc)
		if err != nil {
			return "", newError(http.StatusNotFound, "unknown_service", "service name %q is not percent-encoded correctly", truncate(svc, 80))
		}
		svc = u
	}
	if svc == "" || len(svc) > 63 {
		return "", newError(http.StatusNotFound, "unknown_service", "service name %q: names have 1 to 63 bytes", truncate(svc, 80))
	}
	return svc, nil
}

func (x *Dispatcher) update(w http.ResponseWriter, r *http.Request) {
	res, err := x.genericUpdate(w, r)
	if err != nil {
		x.fail(w, r, err, write)
		return
	}
	writeJSON(w, http.StatusOK, newAnswer(res))
}

func (x *Dispatcher) genericUpdate(w http.ResponseWriter, r *http.Request) (raps.Result, error) {
	svc, err := x.service(r)
	if err != nil {
		return raps.Result{}, err
	}
	var req updateRequest
	if err := x.decodeJSON(w, r, &req); err != nil {
		return raps.Result{}, err
	}
	key, err := bytesField("key", req.Key, req.KeyBase64, true)
	if err != nil {
		return raps.Result{}, err
	}
	if err := x.checkKey(key, "key"); err != nil {
		return raps.Result{}, err
	}
	op, err := bytesField("op", req.Op, req.OpBase64, true)
	if err != nil {
		return raps.Result{}, err
	}
	idem, err := idempotency(r, req.IdempotencyKey)
	if err != nil {
		return raps.Result{}, err
	}
	return x.doUpdate(w, r, svc, key, op, idem)
}

func (x *Dispatcher) query(w http.ResponseWriter, r *http.Request) {
	res, err := x.genericQuery(w, r)
	if err != nil {
		x.fail(w, r, err, read)
		return
	}
	writeJSON(w, http.StatusOK, newAnswer(res))
}

func (x *Dispatcher) genericQuery(w http.ResponseWriter, r *http.Request) (raps.Result, error) {
	svc, err := x.service(r)
	if err != nil {
		return raps.Result{}, err
	}
	var req queryRequest
	if err := x.decodeJSON(w, r, &req); err != nil {
		return raps.Result{}, err
	}
	key, err := bytesField("key", req.Key, req.KeyBase64, true)
	if err != nil {
		return raps.Result{}, err
	}
	if err := x.checkKey(key, "key"); err != nil {
		return raps.Result{}, err
	}
	q, err := bytesField("query", req.Query, req.QueryBase64, true)
	if err != nil {
		return raps.Result{}, err
	}
	tok, have, err := parseToken(req.Token)
	if err != nil {
		return raps.Result{}, err
	}
	level, err := readLevel(req.Consistency, have)
	if err != nil {
		return raps.Result{}, err
	}
	return x.doQuery(w, r, svc, key, q, level, tok, have)
}

type scatterPart struct {
	Partition    int     `json:"partition"`
	Result       *string `json:"result,omitempty"`
	ResultBase64 *string `json:"result_base64,omitempty"`
	Token        string  `json:"token,omitempty"`
	Clone        uint64  `json:"clone,omitempty"`
	Error        *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

func (x *Dispatcher) scatter(w http.ResponseWriter, r *http.Request) {
	if err := x.doScatter(w, r); err != nil {
		x.fail(w, r, err, read)
	}
}

func (x *Dispatcher) doScatter(w http.ResponseWriter, r *http.Request) error {
	svc, err := x.service(r)
	if err != nil {
		return err
	}
	var req scatterRequest
	if err := x.decodeJSON(w, r, &req); err != nil {
		return err
	}
	q, err := bytesField("query", req.Query, req.QueryBase64, true)
	if err != nil {
		return err
	}
	if err := x.checkOp(q, ""); err != nil {
		return err
	}
	var level racs.Level
	switch req.Consistency {
	case "", "any":
		level = racs.Any
	case "strict":
		level = racs.Strict
	case "session":
		return badRequest("bad_consistency", "a scatter reads at any or strict: a session token names one partition")
	default:
		return badRequest("bad_consistency", "consistency %q: a scatter takes any or strict", truncate(req.Consistency, 32))
	}
	ctx, cancel := x.ctx(r)
	defer cancel()
	out, partial, err := x.rt.Scatter(ctx, svc, q, level)
	if err != nil {
		return classify(err, read)
	}
	parts := make([]scatterPart, len(out))
	for i, pr := range out {
		p := scatterPart{Partition: pr.Partition.ID}
		if pr.Err != nil {
			e := classify(pr.Err, read)
			p.Error = &struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			}{e.code, e.msg}
		} else {
			a := newAnswer(pr.Result)
			p.Result, p.ResultBase64, p.Token, p.Clone = a.Result, &a.ResultBase64, a.Token, a.Clone
		}
		parts[i] = p
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": parts, "partial": partial})
	return nil
}
