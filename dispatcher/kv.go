package dispatcher

import (
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"unicode/utf8"

	"github.com/quicksilver-go/quicksilver/kv"
	"github.com/quicksilver-go/quicksilver/raps"
)

// The kv routes: the built-in kv service (raps.KVServiceName) with raw
// values in and out.

const kvSvc = raps.KVServiceName

// kvStatus turns a kv result's status byte into an error, if it is one.
func kvStatus(res raps.Result) error {
	if len(res.Data) == 0 {
		return newError(http.StatusInternalServerError, codeInternal, "the kv service gave an empty result")
	}
	switch res.Data[0] {
	case kv.StatusOK:
		return nil
	case kv.StatusNotFound:
		return newError(http.StatusNotFound, "not_found", "no such key")
	case kv.StatusCASFail:
		return &apiError{status: http.StatusConflict, code: "cas_failed", msg: "the value is not the one expected; nothing changed",
			extra: map[string]any{"ok": false, "token": tokenOf(res)}}
	case kv.StatusBadInput:
		return badRequest("bad_input", "the kv service refused the command as malformed")
	}
	return newError(http.StatusInternalServerError, codeInternal, "the kv service gave status %d", res.Data[0])
}

func (x *Dispatcher) kvWrite(w http.ResponseWriter, r *http.Request, build func(key []byte) ([]byte, error), answer func(raps.Result) any) {
	key, err := x.pathKey(r)
	if err != nil {
		x.fail(w, r, err, write)
		return
	}
	op, err := build(key)
	if err != nil {
		x.fail(w, r, err, write)
		return
	}
	idem, err := idempotency(r, "")
	if err != nil {
		x.fail(w, r, err, write)
		return
	}
	res, err := x.doUpdate(w, r, kvSvc, key, op, idem)
	if err == nil {
		err = kvStatus(res)
	}
	if err != nil {
		x.fail(w, r, err, write)
		return
	}
	writeJSON(w, http.StatusOK, answer(res))
}

func writeAnswer(res raps.Result) any {
	return map[string]any{"token": tokenOf(res), "partition": res.Partition.ID, "view": res.View}
}

func (x *Dispatcher) kvPut(w http.ResponseWriter, r *http.Request) {
	x.kvWrite(w, r, func(key []byte) ([]byte, error) {
		v, err := x.readBody(w, r)
		if err != nil {
			return nil, err
		}
		return kv.Encode(kv.OpPut, string(key), v), nil
	}, writeAnswer)
}

func (x *Dispatcher) kvDelete(w http.ResponseWriter, r *http.Request) {
	x.kvWrite(w, r, func(key []byte) ([]byte, error) { return kv.Encode(kv.OpDelete, string(key)), nil }, writeAnswer)
}

type casRequest struct {
	Expect       *string `json:"expect"`
	ExpectBase64 *string `json:"expect_base64"`
	Value        *string `json:"value"`
	ValueBase64  *string `json:"value_base64"`
}

func (x *Dispatcher) kvCAS(w http.ResponseWriter, r *http.Request) {
	x.kvWrite(w, r, func(key []byte) ([]byte, error) {
		var req casRequest
		if err := x.decodeJSON(w, r, &req); err != nil {
			return nil, err
		}
		expect, err := bytesField("expect", req.Expect, req.ExpectBase64, false)
		if err != nil {
			return nil, err
		}
		value, err := bytesField("value", req.Value, req.ValueBase64, true)
		if err != nil {
			return nil, err
		}
		return kv.Encode(kv.OpCAS, string(key), expect, value), nil
	}, func(res raps.Result) any {
		return map[string]any{"ok": true, "token": tokenOf(res), "partition": res.Partition.ID, "view": res.View}
	})
}

func (x *Dispatcher) kvAppend(w http.ResponseWriter, r *http.Request) {
	x.kvWrite(w, r, func(key []byte) ([]byte, error) {
		v, err := x.readBody(w, r)
		if err != nil {
			return nil, err
		}
		return kv.Encode(kv.OpAppend, string(key), v), nil
	}, func(res raps.Result) any {
		n, _ := binary.Uvarint(res.Data[1:])
		return map[string]any{"token": tokenOf(res), "length": n, "partition": res.Partition.ID, "view": res.View}
	})
}

// kvRead runs a kv query of the route's key with the URL's consistency
// and token.
func (x *Dispatcher) kvRead(w http.ResponseWriter, r *http.Request, op kv.Op) (raps.Result, error) {
	key, err := x.pathKey(r)
	if err != nil {
		return raps.Result{}, err
	}
	qv := r.URL.Query()
	tok, have, err := parseToken(qv.Get("token"))
	if err != nil {
		return raps.Result{}, err
	}
	level, err := readLevel(qv.Get("consistency"), have)
	if err != nil {
		return raps.Result{}, err
	}
	res, err := x.doQuery(w, r, kvSvc, key, kv.Encode(op, string(key)), level, tok, have)
	if err != nil {
		return res, err
	}
	return res, kvStatus(res)
}

func (x *Dispatcher) kvGet(w http.ResponseWriter, r *http.Request) {
	res, err := x.kvRead(w, r, kv.OpGet)
	if err != nil {
		x.fail(w, r, err, read)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(res.Data[1:])
}

func (x *Dispatcher) kvList(w http.ResponseWriter, r *http.Request) {
	var b64 bool
	switch enc := r.URL.Query().Get("encoding"); enc {
	case "", "text":
	case "base64":
		b64 = true
	default:
		x.fail(w, r, badRequest("bad_encoding", "encoding %q: want text or base64", truncate(enc, 32)), read)
		return
	}
	res, err := x.kvRead(w, r, kv.OpList)
	if err != nil {
		x.fail(w, r, err, read)
		return
	}
	elems, err := kv.DecodeList(res.Data[1:])
	if err != nil {
		x.fail(w, r, newError(http.StatusInternalServerError, codeInternal, "the kv service gave a malformed list"), read)
		return
	}
	out := make([]string, len(elems))
	for i, e := range elems {
		switch {
		case b64:
			out[i] = base64.StdEncoding.EncodeToString(e)
		case !utf8.Valid(e):
			x.fail(w, r, newError(http.StatusNotAcceptable, "not_utf8",
				"element %d is not valid UTF-8: ask with encoding=base64", i), read)
			return
		default:
			out[i] = string(e)
		}
	}
	writeJSON(w, http.StatusOK, out)
}
