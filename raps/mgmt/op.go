package mgmt

// Op names an admin change of the partition map. The names are stable:
// they are in the replicated log, in snapshots (the history) and in the
// admin API.
type Op string

const (
	// OpBootstrap makes the first map: Cluster, FirstGroup (the first
	// data-group id; ids below it are the caller's, for the management
	// group itself) and the initial Nodes. Epoch must be 0 (no map yet).
	// With MgmtGroup set, the map places the management group too (the
	// system service partitionmap.MgmtService, of MgmtDurability): its
	// voters are the Nodes, in order — the group's first view.
	OpBootstrap Op = "bootstrap"
	// OpAddNode adds Node.
	OpAddNode Op = "add_node"
	// OpSetNodeState sets NodeID's State (Since: when it died, for
	// NodeDead).
	OpSetNodeState Op = "set_node_state"
	// OpUpdateNode replaces the zone, address and services of Node.ID
	// (a node the bootstrap listed fills them in when it runs).
	OpUpdateNode Op = "update_node"
	// OpSetNodeServices replaces the Services NodeID offers.
	OpSetNodeServices Op = "set_node_services"
	// OpRemoveNode forgets NodeID.
	OpRemoveNode Op = "remove_node"
	// OpDefineService creates Service with its partitions (Ranges, for a
	// range service) and places their clones.
	OpDefineService Op = "define_service"
	// OpRemoveService deletes the service Name and its partitions.
	OpRemoveService Op = "remove_service"
	// OpSetClones sets the voters per partition of the service Name.
	OpSetClones Op = "set_clones"
	// OpMoveClone starts an operator's move of Ref's voter on From to To.
	OpMoveClone Op = "move_clone"
	// OpApplyMoves applies a placer's plan, Moves, as one change, all or
	// nothing (partitionmap.Map.ApplyAll).
	OpApplyMoves Op = "apply_moves"
	// OpLearnersReady records that the learners in Ready hold their state.
	OpLearnersReady Op = "learners_ready"
	// OpReincarnate re-creates Ref's group from nothing (its data is
	// lost: every voter is declared dead).
	OpReincarnate Op = "reincarnate"
)

// commonFields are the JSON fields every command may carry.
var commonFields = []string{"op", "epoch", "time", "reason", "cluster"}

// opArgs lists, per op, the JSON fields of its arguments. A command that
// carries a field its op does not take is refused (ErrBadCommand) rather
// than silently ignored: an administrator who sets Clones on a
// define_service command, say, expects it to matter. This table is also
// the list of the ops there are.
var opArgs = map[Op][]string{
	OpBootstrap:       {"first_group", "nodes", "mgmt_group", "mgmt_durability"},
	OpUpdateNode:      {"node"},
	OpAddNode:         {"node"},
	OpSetNodeState:    {"node_id", "state", "since"},
	OpSetNodeServices: {"node_id", "services"},
	OpRemoveNode:      {"node_id"},
	OpDefineService:   {"service", "ranges"},
	OpRemoveService:   {"name"},
	OpSetClones:       {"name", "clones"},
	OpMoveClone:       {"ref", "from", "to"},
	OpApplyMoves:      {"moves"},
	OpLearnersReady:   {"ready"},
	OpReincarnate:     {"ref"},
}

// Known reports whether op is one of the ops above.
func (op Op) Known() bool {
	_, ok := opArgs[op]
	return ok
}

// takes reports whether a command of op may carry the JSON field.
func (op Op) takes(field string) bool {
	for _, f := range commonFields {
		if f == field {
			return true
		}
	}
	for _, f := range opArgs[op] {
		if f == field {
			return true
		}
	}
	return false
}
