package workload

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// Final is the state every clone holds at the end of a run.
type Final struct {
	Lists    Lists    // the append and idem keys
	Balances Balances // the bank, if it ran
}

// ReadFinal reads, at every clone, every key the run's workloads use.
func ReadFinal(ctx context.Context, read CloneReader, cfg Config) (Final, error) {
	cfg.defaults()
	var keys []string
	for i := range cfg.Keys {
		if cfg.AppendClients > 0 {
			keys = append(keys, listKey(i))
		}
		if cfg.IdemClients > 0 {
			keys = append(keys, idemKey(i))
		}
	}
	var f Final
	var err error
	if f.Lists, err = ReadLists(ctx, read, cfg.KVService, keys); err != nil {
		return f, err
	}
	if cfg.BankClients > 0 {
		if f.Balances, err = ReadBalances(ctx, read); err != nil {
			return f, err
		}
	}
	return f, nil
}

// Report is what Check found.
type Report struct {
	Summary    Summary
	Register   RegisterVerdict
	Violations []Violation
	// Acknowledged counts acknowledged updates; Lost those the final state
	// lacks (must be 0).
	Acknowledged, Lost int
}

// Verdict is porcupine's verdict as a word.
func (r *Report) Verdict() string {
	switch r.Register.Result {
	case porcupine.Ok:
		return "linearizable"
	case porcupine.Illegal:
		return "NOT linearizable"
	}
	return "unknown (the checker timed out)"
}

func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s; %d acknowledged updates, %d lost; register history (%d ops): %s; %d violations",
		r.Summary, r.Acknowledged, r.Lost, r.Register.Ops, r.Verdict(), len(r.Violations))
	for _, w := range []string{"append", "register", "session", "bank", "idem"} {
		if c, ok := r.Summary.ByWorkload[w]; ok {
			fmt.Fprintf(&b, "\n  %-8s ok %d, fail %d, unknown %d, pending %d", w, c[0], c[1], c[2], c[3])
		}
	}
	for _, v := range r.Violations {
		fmt.Fprintf(&b, "\n  VIOLATION %s", v.String())
	}
	return b.String()
}

// Check runs every checker over the history and the final state.
func Check(ops []Op, final Final, cfg Config, linTimeout time.Duration) *Report {
	cfg.defaults()
	r := &Report{Summary: Summarize(ops)}
	r.Violations = append(r.Violations, CheckAppend(ops, appendLists(final.Lists, "list-"))...)
	r.Violations = append(r.Violations, CheckIdem(ops, appendLists(final.Lists, "idem-"))...)
	var rv []Violation
	r.Register, rv = CheckRegister(ops, linTimeout)
	r.Violations = append(r.Violations, rv...)
	if cfg.BankClients > 0 {
		r.Violations = append(r.Violations, CheckBank(ops, final.Balances, cfg.BankAccounts, cfg.BankInitial)...)
	}
	for _, o := range ops {
		if o.Outcome == OK && o.Kind != "get" && o.Kind != "list" && o.Kind != "read" {
			r.Acknowledged++
		}
	}
	for _, v := range r.Violations {
		if strings.Contains(v.Check, "lost acknowledged") {
			r.Lost++
		}
	}
	return r
}

func appendLists(l Lists, prefix string) Lists {
	out := Lists{}
	for k, v := range l {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}
