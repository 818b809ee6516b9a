package workload

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/quicksilver-go/quicksilver/kv"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
)

// runRegister: puts, strict gets and compare-and-sets on the shared
// register keys, and, one in four operations, a put of the client's own
// session key read back at the session level with its token.
func runRegister(ctx context.Context, c *client) {
	last := map[string]string{} // the last value this client saw per key
	sessGen, sessVal := 0, ""   // the session key's generation and its last acknowledged value
	var sessTok raps.Result
	for n := 0; pace(ctx, c.cfg.Pace); n++ {
		val := fmt.Sprintf("r%d.%d", c.id, n)
		if c.rng.IntN(4) == 0 {
			key := fmt.Sprintf("sess-%d-%d", c.id, sessGen)
			if sessVal != "" && c.rng.IntN(2) == 0 {
				c.query(Op{Workload: "session", Kind: "get", Level: racs.Session, Expect: sessVal}, c.cfg.KVService, key, kv.Encode(kv.OpGet, key), sessTok, fillGet)
				continue
			}
			o := c.update(Op{Workload: "session", Kind: "put", Value: val}, c.cfg.KVService, key, kv.Encode(kv.OpPut, key, []byte(val)), "", nil)
			switch o.Outcome {
			case OK:
				sessVal, sessTok = val, raps.Result{Token: o.Token}
				// Read it back at once half of the time.
				if c.rng.IntN(2) == 0 {
					c.query(Op{Workload: "session", Kind: "get", Level: racs.Session, Expect: sessVal}, c.cfg.KVService, key, kv.Encode(kv.OpGet, key), sessTok, fillGet)
				}
			case Unknown, Pending:
				// It may be applied later, over a later write: a fresh key.
				sessGen, sessVal = sessGen+1, ""
			}
			continue
		}
		key := regKey(c.rng.IntN(c.cfg.Keys))
		switch r := c.rng.IntN(10); {
		case r < 4:
			o := c.query(Op{Workload: "register", Kind: "get", Level: racs.Strict}, c.cfg.KVService, key, kv.Encode(kv.OpGet, key), raps.Result{}, fillGet)
			if o.Outcome == OK {
				last[key] = o.Result
			}
		case r < 7:
			c.update(Op{Workload: "register", Kind: "put", Value: val}, c.cfg.KVService, key, kv.Encode(kv.OpPut, key, []byte(val)), "", nil)
		default:
			exp := last[key]
			o := c.update(Op{Workload: "register", Kind: "cas", Value: val, Expect: exp}, c.cfg.KVService, key,
				kv.Encode(kv.OpCAS, key, []byte(exp), []byte(val)), "", func(o *Op, res raps.Result) {
					o.Result = fmt.Sprint(len(res.Data) > 0 && res.Data[0] == kv.StatusOK)
				})
			if o.Outcome == OK && o.Result == "true" {
				last[key] = val
			}
		}
	}
}

func fillGet(o *Op, res raps.Result) error {
	if len(res.Data) == 0 {
		return fmt.Errorf("workload: empty get answer")
	}
	switch res.Data[0] {
	case kv.StatusNotFound:
		o.Result = ""
	case kv.StatusOK:
		o.Result = string(res.Data[1:])
	default:
		return fmt.Errorf("workload: get answer status %d", res.Data[0])
	}
	return nil
}

type regInput struct {
	kind          string // put, get, cas
	key           string
	value, expect string
}

type regOutput struct {
	value   string // get: the value read
	ok      bool   // cas: applied
	unknown bool   // an update whose outcome is unknown
}

// RegisterModel is the porcupine model of a kv register per key: the
// state is the value ("" while absent); an update of unknown outcome is
// taken to return at the end of time, so it may be linearized anywhere
// after its call, or (equivalently, since nothing reads it then) never.
var RegisterModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var keys []string
		for _, o := range h {
			k := o.Input.(regInput).key
			if _, ok := by[k]; !ok {
				keys = append(keys, k)
			}
			by[k] = append(by[k], o)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, by[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(string), input.(regInput), output.(regOutput)
		switch in.kind {
		case "put":
			return true, in.value
		case "get":
			return out.value == s, s
		case "cas":
			if out.unknown {
				if s == in.expect {
					return true, in.value
				}
				return true, s
			}
			if out.ok {
				return s == in.expect, in.value
			}
			return s != in.expect, s
		}
		return false, s
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(regInput), output.(regOutput)
		switch {
		case in.kind == "get":
			return fmt.Sprintf("get(%s) -> %q", in.key, out.value)
		case out.unknown:
			return fmt.Sprintf("%s(%s, %q, %q) -> ?", in.kind, in.key, in.expect, in.value)
		case in.kind == "cas":
			return fmt.Sprintf("cas(%s, %q, %q) -> %v", in.key, in.expect, in.value, out.ok)
		}
		return fmt.Sprintf("put(%s, %q)", in.key, in.value)
	},
	DescribeState: func(state any) string { return fmt.Sprintf("%q", state) },
}

// RegisterOperations turns the register workload's history into
// porcupine operations: acknowledged and unknown updates (these returning
// at the end of time) and acknowledged strict gets; failed operations and
// other reads are left out.
func RegisterOperations(ops []Op) (out []porcupine.Operation, index []int) {
	for _, o := range ops {
		if o.Workload != "register" || o.Outcome == Fail {
			continue
		}
		in := regInput{kind: o.Kind, key: o.Key, value: o.Value, expect: o.Expect}
		var res regOutput
		ret := int64(o.Return)
		switch {
		case o.Kind == "get":
			if o.Outcome != OK || o.Level != racs.Strict {
				continue
			}
			res.value = o.Result
		case o.Outcome == OK:
			res.ok = o.Result == "true"
		default: // unknown or pending
			res.unknown, ret = true, math.MaxInt64
		}
		out = append(out, porcupine.Operation{ClientId: o.Client, Input: in, Call: int64(o.Call), Output: res, Return: ret})
		index = append(index, o.Index)
	}
	return out, index
}

// RegisterVerdict is porcupine's answer on the register history.
type RegisterVerdict struct {
	Result porcupine.CheckResult
	Ops    int
	Info   porcupine.LinearizationInfo
	Model  porcupine.Model
	Hist   []porcupine.Operation
}

// CheckRegister checks the register history for linearizability (within
// timeout: porcupine.Unknown if it ran out, which is no violation) and
// the session reads for read-your-writes.
func CheckRegister(ops []Op, timeout time.Duration) (RegisterVerdict, []Violation) {
	var vs []Violation
	hist, _ := RegisterOperations(ops)
	res, info := porcupine.CheckOperationsVerbose(RegisterModel, hist, timeout)
	v := RegisterVerdict{Result: res, Ops: len(hist), Info: info, Model: RegisterModel, Hist: hist}
	if res == porcupine.Illegal {
		viol := Violation{Check: "register: not linearizable", Detail: fmt.Sprintf("porcupine finds no linearization of %d operations; the longest partial one ends before these", len(hist))}
		// The operations of the partition that failed, after its longest
		// partial linearization: the excerpt.
		for _, part := range info.PartialLinearizationsOperations() {
			if len(part) == 0 {
				continue
			}
			longest := part[0]
			for _, p := range part {
				if len(p) > len(longest) {
					longest = p
				}
			}
			if len(longest) > 0 {
				key := longest[0].Input.(regInput).key
				viol.Ops = opsOn(ops, "register", key, 24)
				viol.Detail += fmt.Sprintf("; key %q, %d operations linearized", key, len(longest))
				break
			}
		}
		vs = append(vs, viol)
	}
	for _, o := range ops {
		if o.Workload == "session" && o.Kind == "get" && o.Outcome == OK && o.Result != o.Expect {
			vs = append(vs, Violation{Check: "session: read-your-writes", Detail: fmt.Sprintf("a session read of %q with token %+v returned %q, not the client's own last write %q", o.Key, o.Token, o.Result, o.Expect), Ops: opsOn(ops, "session", o.Key, 6)})
		}
	}
	return v, vs
}

// RegisterHTML writes porcupine's visualization of the verdict to path.
func RegisterHTML(v RegisterVerdict, path string) error {
	return porcupine.VisualizePath(v.Model, v.Info, path)
}
