package rapstest_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/quicksilver-go/quicksilver/kv"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/raps/rapstest"
)

// Client.Trace follows a key to its partition, group and clones, with
// the picker's numbers, on a node's Router (which knows the view) and a
// front end's (which does not); a dead clone is no candidate.
func TestTrace(t *testing.T) {
	c := rapstest.New(t, 4)
	fe := c.FrontEnd(100)
	c.WaitFrontEnd(fe, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	key := []byte("traced")
	for range 20 {
		if _, err := fe.Query(ctx, "kv", key, kv.Encode(kv.OpGet, "traced"), racs.Any, racs.Token{}); err != nil {
			t.Fatal(err)
		}
	}
	ref, clones := c.ClonesOf("kv", key)
	tr, err := fe.Trace("kv", key)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", tr)
	if tr.Partition != ref || tr.Partitioning != "hash" || tr.Hash != xxhash.Sum64(key) || tr.Slot != uint32(tr.Hash%uint64(tr.Slots)) ||
		tr.Slot < tr.SlotLo || tr.Slot >= tr.SlotHi || tr.ViewKnown || len(tr.Clones) != len(clones) {
		t.Fatalf("trace %+v, want partition %v clones %v", tr, ref, clones)
	}
	measured, total := 0, 0.0
	for i, cl := range tr.Clones {
		if cl.Node != clones[i] || !cl.Live || !cl.Candidate || cl.Cost <= 0 || cl.EWMA <= 0 {
			t.Fatalf("clone %d: %+v", i, cl)
		}
		if cl.Measured {
			measured++
		}
		total += cl.Chance
	}
	if measured == 0 || total < 0.999 || total > 1.001 || !slices.Contains(clones, tr.Chosen) ||
		!strings.Contains(tr.Reason, "power of two choices") {
		t.Fatalf("picker view: measured %d, chances sum %v, chosen %d, reason %q", measured, total, tr.Chosen, tr.Reason)
	}
	// A node's Router hosting a clone knows the view.
	nt, err := c.Node(clones[0]).Client().Trace("kv", key)
	if err != nil || !nt.ViewKnown || nt.View == 0 {
		t.Fatalf("node trace: %+v %v", nt, err)
	}
	// It queries its own clone (no hop) unless the other drawn is cheaper:
	// its chance is at least that of any other, and the chances sum to 1.
	total, own := 0.0, 0.0
	for _, cl := range nt.Clones {
		total += cl.Chance
		if cl.Node == clones[0] {
			own = cl.Chance
		}
	}
	if total < 0.999 || total > 1.001 || own < 1/float64(len(clones)) || !strings.Contains(nt.Reason, "own clone") {
		t.Fatalf("node picker: own chance %v, sum %v, reason %q", own, total, nt.Reason)
	}
	c.Kill(clones[1])
	tr, err = fe.Trace("kv", key)
	if err != nil {
		t.Fatal(err)
	}
	for _, cl := range tr.Clones {
		if cl.Node == clones[1] && (cl.Live || cl.Candidate || cl.Chance != 0) {
			t.Fatalf("dead clone traced as %+v", cl)
		}
	}
	if tr.Chosen == clones[1] {
		t.Fatalf("trace favours the dead clone: %s", tr.Reason)
	}
	if _, err := fe.Trace("nope", key); !errors.Is(err, raps.ErrUnknownService) {
		t.Fatalf("trace of an unknown service: %v", err)
	}
}
