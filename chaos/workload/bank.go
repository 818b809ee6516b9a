package workload

import (
	"context"
	"fmt"
	"slices"

	"github.com/quicksilver-go/quicksilver/chaos/bank"
	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
)

// runBank: transfers between random accounts, and reads of every balance.
func runBank(ctx context.Context, c *client) {
	for pace(ctx, c.cfg.Pace) {
		if c.rng.IntN(10) < 3 {
			level := racs.Strict
			if c.rng.IntN(2) == 0 {
				level = racs.Any
			}
			c.query(Op{Workload: "bank", Kind: "read", Level: level}, bank.Name, bank.Key, bank.Read(), raps.Result{}, fillBalances)
			continue
		}
		from := c.rng.IntN(c.cfg.BankAccounts)
		to := (from + 1 + c.rng.IntN(c.cfg.BankAccounts-1)) % c.cfg.BankAccounts
		amount := uint64(1 + c.rng.IntN(20))
		c.update(Op{Workload: "bank", Kind: "transfer", Value: fmt.Sprintf("%d>%d:%d", from, to, amount)}, bank.Name, bank.Key,
			bank.Transfer(from, to, amount), "", func(o *Op, res raps.Result) {
				switch {
				case len(res.Data) == 1 && res.Data[0] == bank.StatusOK:
					o.Result = "ok"
				case len(res.Data) == 1 && res.Data[0] == bank.StatusInsufficient:
					o.Result = "insufficient"
				default:
					o.Result = fmt.Sprintf("bad %x", res.Data)
				}
			})
	}
}

func fillBalances(o *Op, res raps.Result) error {
	bal, err := bank.DecodeBalances(res.Data)
	if err != nil {
		return err
	}
	o.List = make([]string, len(bal))
	for i, b := range bal {
		o.List[i] = fmt.Sprint(b)
	}
	return nil
}

// Balances is every clone's final bank balances, by node.
type Balances map[groupcomm.NodeID][]uint64

// ReadBalances reads the bank's balances at every clone.
func ReadBalances(ctx context.Context, read CloneReader) (Balances, error) {
	ans, err := read(ctx, bank.Name, bank.Key, bank.Read())
	if err != nil {
		return nil, fmt.Errorf("read the bank at every clone: %w", err)
	}
	out := Balances{}
	for n, b := range ans {
		bal, err := bank.DecodeBalances(b)
		if err != nil {
			return nil, fmt.Errorf("the bank at node %d: %w", n, err)
		}
		out[n] = bal
	}
	return out, nil
}

// CheckBank checks that every read and every clone's final state hold
// accounts balances summing to accounts × initial (none negative: they are
// unsigned, and a wrapped one breaks the sum), that every transfer
// acknowledged was understood, and that all clones agree.
func CheckBank(ops []Op, final Balances, accounts int, initial uint64) []Violation {
	var vs []Violation
	total := uint64(accounts) * initial
	check := func(what string, bal []uint64, o []Op) {
		var sum uint64
		for _, b := range bal {
			sum += b
		}
		if len(bal) != accounts || sum != total {
			vs = append(vs, Violation{Check: "bank: total changed", Detail: fmt.Sprintf("%s: %d accounts %v summing to %d, want %d accounts summing to %d", what, len(bal), bal, sum, accounts, total), Ops: o})
		}
	}
	for _, o := range ops {
		if o.Workload != "bank" || o.Outcome != OK {
			continue
		}
		switch o.Kind {
		case "read":
			bal := make([]uint64, len(o.List))
			for i, s := range o.List {
				fmt.Sscan(s, &bal[i])
			}
			check(fmt.Sprintf("read #%d at level %d", o.Index, o.Level), bal, []Op{o})
		case "transfer":
			if o.Result != "ok" && o.Result != "insufficient" {
				vs = append(vs, Violation{Check: "bank: bad transfer result", Detail: o.Result, Ops: []Op{o}})
			}
		}
	}
	var ref []uint64
	var refNode groupcomm.NodeID
	nodes := make([]groupcomm.NodeID, 0, len(final))
	for n := range final {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	for _, n := range nodes {
		check(fmt.Sprintf("the final state of node %d", n), final[n], nil)
		if ref == nil {
			ref, refNode = final[n], n
		} else if !slices.Equal(ref, final[n]) {
			vs = append(vs, Violation{Check: "bank: divergent clones", Detail: fmt.Sprintf("node %d holds %v, node %d holds %v", refNode, ref, n, final[n])})
		}
	}
	if len(final) == 0 {
		vs = append(vs, Violation{Check: "bank: clones", Detail: "no clone answered"})
	}
	return vs
}
