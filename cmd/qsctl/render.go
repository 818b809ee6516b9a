package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/raps/mgmt"
)

func (c *client) table() *tabwriter.Writer { return tabwriter.NewWriter(c.w, 2, 4, 2, ' ', 0) }

func (c *client) members(ctx context.Context, args []string) error {
	if len(args) > 0 {
		return usageError("members takes no arguments")
	}
	var res struct {
		Epoch   uint64 `json:"epoch"`
		Members []struct {
			ID    uint64  `json:"id"`
			Addr  string  `json:"addr"`
			State string  `json:"state"`
			Zone  string  `json:"zone"`
			Load  float64 `json:"load"`
			Epoch uint64  `json:"epoch"`
			Role  string  `json:"role"`
		} `json:"members"`
	}
	return c.show(ctx, http.MethodGet, "/v1/admin/members", nil, &res, func() {
		tw := c.table()
		fmt.Fprintf(tw, "ID\tROLE\tSTATE\tZONE\tLOAD\tEPOCH\tADDR\n")
		for _, m := range res.Members {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%.1f\t%d\t%s\n", m.ID, m.Role, m.State, dash(m.Zone), m.Load, m.Epoch, m.Addr)
		}
		tw.Flush()
		fmt.Fprintf(c.w, "map epoch %d\n", res.Epoch)
	})
}

func (c *client) partitionMap(ctx context.Context, args []string) error {
	if len(args) > 0 {
		return usageError("map takes no arguments")
	}
	var m partitionmap.Map
	return c.show(ctx, http.MethodGet, "/v1/admin/map", nil, &m, func() {
		fmt.Fprintf(c.w, "epoch %d: %d nodes, %d services, %d partitions\n\n", m.Epoch, len(m.Nodes), len(m.Services), len(m.Partitions))
		tw := c.table()
		fmt.Fprintf(tw, "NODE\tSTATE\tZONE\tCLONES\tSERVICES\n")
		for _, n := range m.Nodes {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\n", n.ID, n.State, dash(n.Zone), clonesOn(&m, n.ID), strings.Join(n.Services, ","))
		}
		tw.Flush()
		fmt.Fprintln(c.w)
		tw = c.table()
		fmt.Fprintf(tw, "SERVICE\tPARTITION\tGROUP\tCLONES (first: the preferred sequencer)\n")
		for i := range m.Partitions {
			p := &m.Partitions[i]
			var cl []string
			for _, k := range p.Clones {
				s := strconv.FormatUint(uint64(k.Node), 10)
				if k.Role == partitionmap.Learner {
					s += "(learner)"
				}
				cl = append(cl, s)
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", p.Service, p.ID, p.Group, strings.Join(cl, " "))
		}
		tw.Flush()
	})
}

func clonesOn(m *partitionmap.Map, id partitionmap.NodeID) int {
	n := 0
	for i := range m.Partitions {
		for _, c := range m.Partitions[i].Clones {
			if c.Node == id {
				n++
			}
		}
	}
	return n
}

func (c *client) history(ctx context.Context, args []string) error {
	var since, limit string
	if err := subFlags("history", args, func(fs *flag.FlagSet) {
		fs.StringVar(&since, "since", "", "changes after this epoch")
		fs.StringVar(&limit, "limit", "", "at most this many")
	}); err != nil {
		return err
	}
	var res struct {
		Changes []mgmt.Change `json:"changes"`
	}
	return c.show(ctx, http.MethodGet, "/v1/admin/history"+query("since", since, "limit", limit), nil, &res, func() {
		tw := c.table()
		fmt.Fprintf(tw, "EPOCH\tTIME\tOP\tREASON\tSUMMARY\n")
		for _, ch := range res.Changes {
			t := "-"
			if !ch.Time.IsZero() {
				t = ch.Time.UTC().Format(time.DateTime)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", ch.Epoch, t, ch.Op, dash(ch.Reason), ch.Summary)
		}
		tw.Flush()
	})
}

// movesAnswer is GET /v1/admin/moves.
type movesAnswer struct {
	Epoch uint64 `json:"epoch"`
	Moves []struct {
		Partition partitionmap.PartRef  `json:"partition"`
		Group     uint64                `json:"group"`
		Kind      string                `json:"kind"`
		Voters    []partitionmap.NodeID `json:"voters"`
		Desired   int                   `json:"desired"`
		Learner   partitionmap.NodeID   `json:"learner"`
		Replaces  partitionmap.NodeID   `json:"replaces"`
		Progress  string                `json:"progress"`
		Reason    string                `json:"reason"`
	} `json:"moves"`
}

func (c *client) printMoves(res *movesAnswer) {
	if len(res.Moves) == 0 {
		fmt.Fprintf(c.w, "epoch %d: no moves in progress\n", res.Epoch)
		return
	}
	tw := c.table()
	fmt.Fprintf(tw, "PARTITION\tGROUP\tKIND\tVOTERS\tLEARNER\tREPLACES\tPROGRESS\tREASON\n")
	for _, m := range res.Moves {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%v/%d\t%s\t%s\t%s\t%s\n", m.Partition, m.Group, m.Kind, m.Voters, m.Desired,
			node(m.Learner), node(m.Replaces), m.Progress, dash(m.Reason))
	}
	tw.Flush()
	fmt.Fprintf(c.w, "epoch %d: %d moves in progress\n", res.Epoch, len(res.Moves))
}

func (c *client) moves(ctx context.Context, args []string) error {
	if len(args) > 0 {
		return usageError("moves takes no arguments")
	}
	var res movesAnswer
	return c.show(ctx, http.MethodGet, "/v1/admin/moves", nil, &res, func() { c.printMoves(&res) })
}

// watch prints the moves every interval until none is left.
func (c *client) watch(ctx context.Context, args []string) error {
	every := time.Second
	if err := subFlags("watch", args, func(fs *flag.FlagSet) { fs.DurationVar(&every, "every", every, "poll interval") }); err != nil {
		return err
	}
	if every <= 0 {
		return usageError("watch: -every must be positive")
	}
	for {
		var res movesAnswer
		if err := c.show(ctx, http.MethodGet, "/v1/admin/moves", nil, &res, func() { c.printMoves(&res) }); err != nil {
			return err
		}
		if !c.json && len(res.Moves) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		}
		fmt.Fprintln(c.w)
	}
}

func (c *client) trace(ctx context.Context, args []string) error {
	if len(args) != 2 {
		return usageError("trace SERVICE KEY")
	}
	var res struct {
		Partition partitionmap.PartRef `json:"partition"`
		Hash      uint64               `json:"hash"`
		Slot      uint32               `json:"slot"`
		Group     uint64               `json:"group"`
		Epoch     uint64               `json:"epoch"`
		View      uint64               `json:"view"`
		ViewKnown bool                 `json:"view_known"`
		UpdateTo  uint64               `json:"update_to"`
		Clones    []struct {
			Node      uint64  `json:"node"`
			Role      string  `json:"role"`
			Live      bool    `json:"live"`
			Candidate bool    `json:"candidate"`
			InFlight  int64   `json:"in_flight"`
			Load      float64 `json:"load"`
			EWMA      int64   `json:"ewma_ns"`
			Cost      float64 `json:"cost"`
			Chance    float64 `json:"chance"`
		} `json:"clones"`
		Chosen uint64 `json:"chosen"`
		Reason string `json:"reason"`
	}
	return c.show(ctx, http.MethodGet, "/v1/admin/trace"+query("service", args[0], "key", args[1]), nil, &res, func() {
		view := "unknown here"
		if res.ViewKnown {
			view = strconv.FormatUint(res.View, 10)
		}
		fmt.Fprintf(c.w, "key %q of %s: hash %d, slot %d → partition %s → group %d (view %s, map epoch %d); updates go to node %d\n\n",
			args[1], args[0], res.Hash, res.Slot, res.Partition, res.Group, view, res.Epoch, res.UpdateTo)
		tw := c.table()
		fmt.Fprintf(tw, "CLONE\tROLE\tLIVE\tCANDIDATE\tIN-FLIGHT\tLOAD\tEWMA\tCHANCE\n")
		for _, k := range res.Clones {
			mark := ""
			if k.Node == res.Chosen {
				mark = " ←"
			}
			fmt.Fprintf(tw, "%d%s\t%s\t%v\t%v\t%d\t%.1f\t%v\t%.0f%%\n", k.Node, mark, k.Role, k.Live, k.Candidate, k.InFlight, k.Load,
				time.Duration(k.EWMA), 100*k.Chance)
		}
		tw.Flush()
		fmt.Fprintf(c.w, "\nchosen: node %d: %s\n", res.Chosen, res.Reason)
	})
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func node(n partitionmap.NodeID) string {
	if n == 0 {
		return "-"
	}
	return strconv.FormatUint(uint64(n), 10)
}
