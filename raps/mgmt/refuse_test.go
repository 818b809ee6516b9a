package mgmt

import (
	"strings"
	"testing"

	"github.com/quicksilver-go/quicksilver/partitionmap"
)

// TestRefusals: every bad command is refused with the right sentinel, at
// the current epoch, and leaves the map, the history and the snapshot as
// they were.
func TestRefusals(t *testing.T) {
	kv0 := partitionmap.PartRef{Service: "kv", ID: 0}
	// raw commands: each is built against the bootstrapped fixture's map
	// (five nodes offering cat and kv; kv is 8 × 3, at epoch 2), plus
	// node 6 offering only "other", at epoch 3.
	cases := []struct {
		name string
		cmd  func(t *testing.T, m *partitionmap.Map) Command
		raw  func(t *testing.T, m *partitionmap.Map) []byte // instead of cmd
		want error
		msg  string // in the message, if set
	}{
		{name: "unknown service", want: partitionmap.ErrUnknownService,
			cmd: func(*testing.T, *partitionmap.Map) Command { return Command{Op: OpSetClones, Name: "nope", Clones: 1} }},
		{name: "unknown service of a move", want: partitionmap.ErrUnknownService,
			cmd: func(*testing.T, *partitionmap.Map) Command {
				return Command{Op: OpMoveClone, Ref: partitionmap.PartRef{Service: "nope"}, From: 1, To: 2}
			}},
		{name: "remove unknown service", want: partitionmap.ErrUnknownService,
			cmd: func(*testing.T, *partitionmap.Map) Command { return Command{Op: OpRemoveService, Name: "nope"} }},
		{name: "overlapping ranges", want: partitionmap.ErrBadRanges,
			cmd: func(*testing.T, *partitionmap.Map) Command {
				return Command{Op: OpDefineService, Service: rangeService("cat", 0, 3), Ranges: []partitionmap.KeyRange{
					{End: partitionmap.Key("G")}, {Start: partitionmap.Key("D")}}}
			}},
		{name: "gapped ranges", want: partitionmap.ErrBadRanges,
			cmd: func(*testing.T, *partitionmap.Map) Command {
				return Command{Op: OpDefineService, Service: rangeService("cat", 0, 3), Ranges: []partitionmap.KeyRange{
					{End: partitionmap.Key("D")}, {Start: partitionmap.Key("G")}}}
			}},
		{name: "ranges not from the empty key", want: partitionmap.ErrBadRanges,
			cmd: func(*testing.T, *partitionmap.Map) Command {
				return Command{Op: OpDefineService, Service: rangeService("cat", 0, 3), Ranges: []partitionmap.KeyRange{{Start: partitionmap.Key("A")}}}
			}},
		{name: "clones > nodes at definition", want: partitionmap.ErrTooFewNodes,
			cmd: func(*testing.T, *partitionmap.Map) Command {
				return Command{Op: OpDefineService, Service: hashService("cat", 4, 6)}
			}},
		{name: "clones > nodes", want: partitionmap.ErrTooFewNodes,
			cmd: func(*testing.T, *partitionmap.Map) Command { return Command{Op: OpSetClones, Name: "kv", Clones: 6} }},
		{name: "clones 0", want: partitionmap.ErrInvalidArgument,
			cmd: func(*testing.T, *partitionmap.Map) Command { return Command{Op: OpSetClones, Name: "kv", Clones: 0} }},
		{name: "service defined twice", want: partitionmap.ErrExists,
			cmd: func(*testing.T, *partitionmap.Map) Command {
				return Command{Op: OpDefineService, Service: hashService("kv", 4, 3)}
			}},
		{name: "hash service with ranges", want: partitionmap.ErrInvalidArgument,
			cmd: func(*testing.T, *partitionmap.Map) Command {
				return Command{Op: OpDefineService, Service: hashService("cat", 4, 3), Ranges: partitionmap.SplitRanges("D")}
			}},
		{name: "stale epoch", want: partitionmap.ErrStaleEpoch,
			cmd: func(_ *testing.T, m *partitionmap.Map) Command {
				return Command{Op: OpSetClones, Name: "kv", Clones: 2, Epoch: m.Epoch - 1}
			}},
		{name: "move to a node that lacks the service", want: partitionmap.ErrNodeLacksService,
			cmd: func(t *testing.T, m *partitionmap.Map) Command {
				from, _ := voterAndFreeNode(t, m, kv0)
				return Command{Op: OpMoveClone, Ref: kv0, From: from, To: 6}
			}},
		{name: "planned move to a node that lacks the service", want: partitionmap.ErrNodeLacksService,
			cmd: func(t *testing.T, m *partitionmap.Map) Command {
				return Command{Op: OpApplyMoves, Moves: []partitionmap.Move{{Partition: kv0, Kind: partitionmap.AddLearner, Node: 6}}}
			}},
		{name: "move to an unknown node", want: partitionmap.ErrUnknownNode,
			cmd: func(t *testing.T, m *partitionmap.Map) Command {
				from, _ := voterAndFreeNode(t, m, kv0)
				return Command{Op: OpMoveClone, Ref: kv0, From: from, To: 77}
			}},
		{name: "move of an unknown partition", want: partitionmap.ErrUnknownPartition,
			cmd: func(*testing.T, *partitionmap.Map) Command {
				return Command{Op: OpMoveClone, Ref: partitionmap.PartRef{Service: "kv", ID: 8}, From: 1, To: 2}
			}},
		{name: "move from nowhere", want: partitionmap.ErrInvalidArgument,
			cmd: func(t *testing.T, m *partitionmap.Map) Command {
				_, to := voterAndFreeNode(t, m, kv0)
				return Command{Op: OpMoveClone, Ref: kv0, To: to}
			}},
		{name: "plan all or nothing", want: partitionmap.ErrInvalidMove,
			cmd: func(t *testing.T, m *partitionmap.Map) Command {
				from, to := voterAndFreeNode(t, m, kv0)
				return Command{Op: OpApplyMoves, Moves: []partitionmap.Move{
					{Partition: kv0, Kind: partitionmap.AddLearner, Node: to, Replace: from},       // fits
					{Partition: kv0, Kind: partitionmap.PromoteAndRemove, Node: to, Replace: from}, // not ready
				}}
			}},
		{name: "two moves of one partition", want: partitionmap.ErrMoveInProgress,
			cmd: func(t *testing.T, m *partitionmap.Map) Command {
				p, _ := m.Partition(kv0)
				var free []partitionmap.NodeID
				for _, id := range m.NodesOffering("kv") {
					if _, held := p.Holds(id); !held {
						free = append(free, id)
					}
				}
				return Command{Op: OpApplyMoves, Moves: []partitionmap.Move{
					{Partition: kv0, Kind: partitionmap.AddLearner, Node: free[0]},
					{Partition: kv0, Kind: partitionmap.AddLearner, Node: free[1]},
				}}
			}},
		{name: "empty plan", want: partitionmap.ErrInvalidArgument,
			cmd: func(*testing.T, *partitionmap.Map) Command { return Command{Op: OpApplyMoves} }},
		{name: "no learners named", want: partitionmap.ErrInvalidArgument,
			cmd: func(*testing.T, *partitionmap.Map) Command { return Command{Op: OpLearnersReady} }},
		{name: "a voter is no learner", want: partitionmap.ErrInvalidMove,
			cmd: func(t *testing.T, m *partitionmap.Map) Command {
				from, _ := voterAndFreeNode(t, m, kv0)
				return Command{Op: OpLearnersReady, Ready: []partitionmap.CloneRef{{Partition: kv0, Node: from}}}
			}},
		{name: "reincarnate with live voters", want: partitionmap.ErrInvalidMove,
			cmd: func(*testing.T, *partitionmap.Map) Command { return Command{Op: OpReincarnate, Ref: kv0} }},
		{name: "node added twice", want: partitionmap.ErrExists,
			cmd: func(*testing.T, *partitionmap.Map) Command {
				return Command{Op: OpAddNode, Node: partitionmap.Node{ID: 1}}
			}},
		{name: "node 0", want: partitionmap.ErrInvalidArgument,
			cmd: func(*testing.T, *partitionmap.Map) Command {
				return Command{Op: OpAddNode, Node: partitionmap.Node{Zone: "z"}}
			}},
		{name: "node with duplicate services", want: partitionmap.ErrInvalidArgument,
			cmd: func(*testing.T, *partitionmap.Map) Command {
				return Command{Op: OpAddNode, Node: partitionmap.Node{ID: 8, Services: []string{"kv", "kv"}}}
			}},
		{name: "remove a node in use", want: partitionmap.ErrNodeInUse,
			cmd: func(t *testing.T, m *partitionmap.Map) Command {
				from, _ := voterAndFreeNode(t, m, kv0)
				return Command{Op: OpRemoveNode, NodeID: from}
			}},
		{name: "stop offering a service in use", want: partitionmap.ErrNodeInUse,
			cmd: func(t *testing.T, m *partitionmap.Map) Command {
				from, _ := voterAndFreeNode(t, m, kv0)
				return Command{Op: OpSetNodeServices, NodeID: from, Services: []string{"cat"}}
			}},
		{name: "state of an unknown node", want: partitionmap.ErrUnknownNode,
			cmd: func(*testing.T, *partitionmap.Map) Command {
				return Command{Op: OpSetNodeState, NodeID: 42, State: partitionmap.NodeDraining}
			}},
		{name: "dead without a time", want: partitionmap.ErrInvalidArgument,
			cmd: func(*testing.T, *partitionmap.Map) Command {
				return Command{Op: OpSetNodeState, NodeID: 1, State: partitionmap.NodeDead}
			}},
		{name: "remove an unknown node", want: partitionmap.ErrUnknownNode,
			cmd: func(*testing.T, *partitionmap.Map) Command { return Command{Op: OpRemoveNode, NodeID: 42} }},
		{name: "a second bootstrap", want: ErrAlreadyBootstrapped,
			cmd: func(*testing.T, *partitionmap.Map) Command { return bootstrapCmd(testNodes(3, 1, "kv")) }},
		{name: "another cluster's command", want: ErrWrongCluster,
			cmd: func(*testing.T, *partitionmap.Map) Command {
				return Command{Op: OpSetClones, Name: "kv", Clones: 2, Cluster: testCluster + 1}
			}},

		// Bytes that are no command.
		{name: "unknown op", want: ErrBadCommand, msg: "unknown op",
			raw: func(*testing.T, *partitionmap.Map) []byte {
				return []byte("\x01{\"op\":\"split_partition\",\"epoch\":3}")
			}},
		{name: "no op", want: ErrBadCommand, msg: "unknown op",
			raw: func(*testing.T, *partitionmap.Map) []byte { return []byte("\x01{\"epoch\":3}") }},
		{name: "garbage", want: ErrBadCommand,
			raw: func(*testing.T, *partitionmap.Map) []byte { return []byte{0x01, 0xff, 0x00, 0x13, 0x37} }},
		{name: "empty", want: ErrBadCommand, msg: "empty",
			raw: func(*testing.T, *partitionmap.Map) []byte { return nil }},
		{name: "unknown version", want: ErrBadCommand, msg: "unknown version",
			raw: func(t *testing.T, m *partitionmap.Map) []byte {
				b := encode(t, Command{Op: OpSetClones, Epoch: m.Epoch, Name: "kv", Clones: 2})
				b[0] = 2
				return b
			}},
		{name: "trailing data", want: ErrBadCommand, msg: "trailing",
			raw: func(t *testing.T, m *partitionmap.Map) []byte {
				return append(encode(t, Command{Op: OpSetClones, Epoch: m.Epoch, Name: "kv", Clones: 2}), "{}"...)
			}},
		{name: "unknown field", want: ErrBadCommand, msg: "unknown field",
			raw: func(*testing.T, *partitionmap.Map) []byte {
				return []byte("\x01" + `{"op":"set_clones","epoch":3,"name":"kv","clones":2,"force":true}`)
			}},
		{name: "field in another case", want: ErrBadCommand, msg: "takes no argument \"Name\"",
			raw: func(*testing.T, *partitionmap.Map) []byte {
				return []byte("\x01" + `{"op":"set_clones","epoch":3,"Name":"kv","clones":2}`)
			}},
		{name: "an argument the op does not take", want: ErrBadCommand, msg: "takes no argument \"node_id\"",
			raw: func(*testing.T, *partitionmap.Map) []byte {
				return []byte("\x01" + `{"op":"set_clones","epoch":3,"name":"kv","clones":2,"node_id":1}`)
			}},
		{name: "an unknown node state", want: ErrBadCommand, msg: "asleep",
			raw: func(*testing.T, *partitionmap.Map) []byte {
				return []byte("\x01" + `{"op":"set_node_state","epoch":3,"node_id":1,"state":"asleep"}`)
			}},
		{name: "a wrong type", want: ErrBadCommand, msg: "cannot unmarshal",
			raw: func(*testing.T, *partitionmap.Map) []byte {
				return []byte("\x01" + `{"op":"set_clones","epoch":"3","name":"kv","clones":2}`)
			}},
		{name: "a reason too long", want: ErrBadCommand, msg: "reason of",
			raw: func(*testing.T, *partitionmap.Map) []byte {
				return []byte("\x01" + `{"op":"set_clones","epoch":3,"name":"kv","clones":2,"reason":"` + strings.Repeat("x", MaxReasonLen+1) + `"}`)
			}},
		{name: "too large", want: ErrBadCommand, msg: "at most",
			raw: func(*testing.T, *partitionmap.Map) []byte {
				return []byte("\x01" + `{"op":"set_clones","epoch":3,"name":"kv","clones":2,"reason":"` + strings.Repeat(" ", MaxCommandSize) + `"}`)
			}},
		{name: "a time JSON cannot write back", want: ErrBadCommand, msg: "outside years",
			raw: func(*testing.T, *partitionmap.Map) []byte {
				return []byte("\x01" + `{"op":"set_clones","epoch":3,"name":"kv","clones":2,"time":"0000-01-01T00:00:00+01:00"}`)
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := bootstrapped(t)
			mustApply(t, s, Command{Op: OpAddNode, Node: partitionmap.Node{ID: 6, Zone: "z0", Services: []string{"other"}}})
			m := s.Map()
			var b []byte
			if tc.raw != nil {
				b = tc.raw(t, m)
			} else {
				c := tc.cmd(t, m)
				if c.Epoch == 0 && c.Op != OpBootstrap && tc.want != partitionmap.ErrStaleEpoch {
					c.Epoch = m.Epoch
				}
				b = encode(t, c)
			}
			f := freeze(t, s)
			r := applyRaw(t, s, b)
			wantRefused(t, s, r, tc.want, tc.name)
			if !strings.Contains(r.Message, tc.msg) {
				t.Fatalf("message %q lacks %q", r.Message, tc.msg)
			}
			f.check(t, s, tc.name)
		})
	}
}

// TestRefusalsBeforeBootstrap: before the bootstrap only a good bootstrap
// applies; anything else is refused and the state stays empty.
func TestRefusalsBeforeBootstrap(t *testing.T) {
	dup := testNodes(2, 1, "kv")
	dup[1].ID = dup[0].ID
	cases := []struct {
		name string
		cmd  Command
		want error
	}{
		{"a change", Command{Op: OpSetClones, Name: "kv", Clones: 1}, ErrNotBootstrapped},
		{"a change at an epoch", Command{Op: OpAddNode, Epoch: 1, Node: partitionmap.Node{ID: 1}}, ErrNotBootstrapped},
		{"a bootstrap at an epoch", func() Command { c := bootstrapCmd(testNodes(3, 1)); c.Epoch = 1; return c }(), partitionmap.ErrStaleEpoch},
		{"no cluster id", func() Command { c := bootstrapCmd(testNodes(3, 1)); c.Cluster = 0; return c }(), partitionmap.ErrInvalidArgument},
		{"no nodes", bootstrapCmd(nil), partitionmap.ErrInvalidArgument},
		{"no first group", func() Command { c := bootstrapCmd(testNodes(3, 1)); c.FirstGroup = 0; return c }(), partitionmap.ErrInvalidArgument},
		{"a node twice", bootstrapCmd(dup), partitionmap.ErrExists},
		{"a node 0", bootstrapCmd([]partitionmap.Node{{ID: 0}}), partitionmap.ErrInvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := New()
			f := freeze(t, s)
			wantRefused(t, s, apply(t, s, tc.cmd), tc.want, tc.name)
			f.check(t, s, tc.name)
			if s.Map() != nil || s.Cluster() != 0 {
				t.Fatal("state after a refusal")
			}
		})
	}
	s := New()
	wantRefused(t, s, applyRaw(t, s, []byte("garbage")), ErrBadCommand, "garbage")
}

// TestEncodeRefuses: EncodeCommand refuses what Apply would refuse as
// malformed, before it reaches the log.
func TestEncodeRefuses(t *testing.T) {
	for _, c := range []Command{
		{Op: "split"},
		{},
		{Op: OpSetClones, Name: "kv", Clones: 2, Nodes: testNodes(1, 1)},
		{Op: OpBootstrap, Cluster: 1, FirstGroup: 1, Nodes: testNodes(1, 1), Name: "x"},
		{Op: OpSetNodeState, NodeID: 1, State: 9},
		{Op: OpRemoveNode, NodeID: 1, Reason: strings.Repeat("y", MaxReasonLen+1)},
	} {
		if _, err := EncodeCommand(c); err == nil || !strings.HasPrefix(err.Error(), "mgmt: ") {
			t.Errorf("EncodeCommand(%+v) = %v, want an mgmt error", c, err)
		}
	}
}
