package mgmt

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/partitionmap"
)

// sampleCommands has one command of every op with every argument it
// takes set, for the round trip and as the fuzzer's seeds.
func sampleCommands() []Command {
	ref := partitionmap.PartRef{Service: "kv", ID: 3}
	base := Command{Epoch: 9, Time: t0, Reason: "why not", Cluster: testCluster}
	cmds := []Command{
		{Op: OpBootstrap, FirstGroup: 100, Nodes: testNodes(3, 2, "kv")},
		{Op: OpAddNode, Node: partitionmap.Node{ID: 4, Zone: "z", Addr: "a:1", State: partitionmap.NodeDead, DeadSince: t0, Services: []string{"kv"}}},
		{Op: OpSetNodeState, NodeID: 2, State: partitionmap.NodeDead, Since: t0.Add(-time.Hour)},
		{Op: OpSetNodeServices, NodeID: 2, Services: []string{"kv", "cat"}},
		{Op: OpUpdateNode, Node: partitionmap.Node{ID: 2, Zone: "z9", Addr: "b:2", Services: []string{"kv"}}},
		{Op: OpRemoveNode, NodeID: 2},
		{Op: OpDefineService, Service: rangeService("cat", 3, 2), Ranges: []partitionmap.KeyRange{
			{End: partitionmap.Key("D")}, {Start: partitionmap.Key("D"), End: partitionmap.Key{0xff, 0}}, {Start: partitionmap.Key{0xff, 0}}}},
		{Op: OpRemoveService, Name: "cat"},
		{Op: OpSetClones, Name: "kv", Clones: 5},
		{Op: OpMoveClone, Ref: ref, From: 1, To: 4},
		{Op: OpApplyMoves, Moves: []partitionmap.Move{
			{Partition: ref, Kind: partitionmap.AddLearner, Node: 4, Replace: 1, Reason: "drain"},
			{Partition: ref, Kind: partitionmap.Lead, Node: 2, Replace: 1, Reason: "balance"}}},
		{Op: OpLearnersReady, Ready: []partitionmap.CloneRef{{Partition: ref, Node: 4}}},
		{Op: OpReincarnate, Ref: ref},
	}
	for i := range cmds {
		op := cmds[i]
		c := base
		if op.Op == OpBootstrap {
			c.Epoch = 0
		}
		c.Op, c.FirstGroup, c.Nodes, c.Node, c.NodeID, c.State, c.Since = op.Op, op.FirstGroup, op.Nodes, op.Node, op.NodeID, op.State, op.Since
		c.Services, c.Service, c.Ranges, c.Name, c.Clones = op.Services, op.Service, op.Ranges, op.Name, op.Clones
		c.Ref, c.From, c.To, c.Moves, c.Ready = op.Ref, op.From, op.To, op.Moves, op.Ready
		cmds[i] = c
	}
	return cmds
}

func TestCommandRoundTrip(t *testing.T) {
	cmds := sampleCommands()
	if len(cmds) != len(opArgs) {
		t.Fatalf("%d sample commands for %d ops", len(cmds), len(opArgs))
	}
	for _, c := range cmds {
		b := encode(t, c)
		if b[0] != commandVersion || len(b) > MaxCommandSize {
			t.Fatalf("%s: encoding %q", c.Op, b)
		}
		got, err := DecodeCommand(b)
		if err != nil {
			t.Fatalf("%s: %v", c.Op, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("%s: round trip\n got %+v\nwant %+v", c.Op, got, c)
		}
		if again := encode(t, got); !bytes.Equal(again, b) {
			t.Fatalf("%s: the encoding is not stable", c.Op)
		}
	}
	// Times come back in UTC, whatever zone the proposer wrote.
	b := []byte("\x01" + `{"op":"remove_node","node_id":2,"time":"2026-03-01T14:00:00+02:00"}`)
	c, err := DecodeCommand(b)
	if err != nil || !c.Time.Equal(t0) || c.Time.Location() != time.UTC {
		t.Fatalf("%v %v", c.Time, err)
	}
	// Empty lists written by hand decode like absent ones.
	c, err = DecodeCommand([]byte("\x01" + `{"op":"define_service","service":{"name":"x","partitioning":"hash","slots":4,"partitions":4,"clones":1,"durability":"disk"},"ranges":[]}`))
	if err != nil || c.Ranges != nil {
		t.Fatalf("%+v %v", c.Ranges, err)
	}
}

// FuzzDecodeCommand: no input makes DecodeCommand or Apply panic; what
// decodes re-encodes to a fixed point; and applying it to a bootstrapped
// state either refuses with a known code and changes nothing, or leaves a
// state whose snapshot restores.
func FuzzDecodeCommand(f *testing.F) {
	for _, c := range sampleCommands() {
		f.Add(encode(f, c))
	}
	fix := bootstrapped(f)
	epoch := fix.Map().Epoch
	for _, c := range []Command{
		{Op: OpSetClones, Epoch: epoch, Name: "kv", Clones: 2},
		{Op: OpAddNode, Epoch: epoch, Node: partitionmap.Node{ID: 9, Services: []string{"kv"}}},
		{Op: OpSetNodeState, Epoch: epoch, NodeID: 1, State: partitionmap.NodeDead, Since: t0},
		{Op: OpDefineService, Epoch: epoch, Service: rangeService("cat", 0, 2), Ranges: partitionmap.SplitRanges("m")},
	} {
		f.Add(encode(f, c))
	}
	f.Add([]byte{})
	f.Add([]byte("\x01{}"))
	f.Add([]byte("\x01{\"op\":\"bootstrap\",\"nodes\":[{\"id\":1}]}"))
	f.Add([]byte("\x01{\"op\":\"set_clones\",\"epoch\":2,\"name\":\"kv\",\"clones\":1e400}"))
	f.Add([]byte("\x01[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["))
	fixSnap := snapshot(f, fix)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCommand(data)
		if err != nil {
			if !errors.Is(err, ErrBadCommand) || !strings.HasPrefix(err.Error(), "mgmt: ") {
				t.Fatalf("DecodeCommand: %v", err)
			}
		} else {
			b, err := EncodeCommand(c)
			if err != nil {
				t.Fatalf("a decoded command does not encode: %v (%+v)", err, c)
			}
			c2, err := DecodeCommand(b)
			if err != nil {
				t.Fatalf("a re-encoded command does not decode: %v", err)
			}
			if b2, _ := EncodeCommand(c2); !bytes.Equal(b, b2) {
				t.Fatalf("the encoding is no fixed point:\n%s\n%s", b, b2)
			}
		}
		for _, s := range []*StateMachine{New(), restore(t, fixSnap)} {
			before := snapshot(t, s)
			r, err := DecodeResult(s.Apply(data))
			if err != nil {
				t.Fatal(err)
			}
			if r.Code == codeInternal {
				t.Fatalf("internal error: %s", r.Message)
			}
			if r.Err() != nil {
				if !bytes.Equal(snapshot(t, s), before) {
					t.Fatalf("refused (%s) but the state changed", r.Code)
				}
				continue
			}
			snap := snapshot(t, s)
			if !bytes.Equal(snapshot(t, restore(t, snap)), snap) {
				t.Fatal("the new state's snapshot does not round-trip")
			}
		}
	})
}
