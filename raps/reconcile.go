package raps

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps/mgmt"
	"github.com/quicksilver-go/quicksilver/replica"
)

// Hosting what the map says (desired → observed, like Helix's IdealState
// and ExternalView). A clone the map places here is started: a voter of
// the partition's clone set takes part in creating its group (the first
// view is the clone set's voters; creation is one-time, so a clone whose
// group already exists joins it), a learner joins the voters as a new
// member and receives the state. A hosted clone the map no longer places
// here leaves its group (racs.Host.RemoveGroup) and its state is deleted.
// A learner that holds its state (its group promoted it: groupcomm
// promotes a learner once its snapshot is restored) is reported to the
// management group, and the placer's next plan promotes it in the map and
// removes the clone it replaces.

// reconcile starts and stops clones to match m (run goroutine). A map
// already reconciled with nothing left to retry is not walked again: the
// loop runs every Poll, and a map holds every partition of the cluster.
func (n *Node) reconcile(m *partitionmap.Map) {
	n.mu.Lock()
	for gid := range n.mu.removed { // leaves finished: a clone may start again
		delete(n.removing, gid)
		delete(n.mu.removed, gid)
	}
	n.mu.Unlock()
	if m.Epoch == n.reconciled && len(n.removing) == 0 {
		return
	}
	clean := true
	self := partitionmap.NodeID(n.cfg.ID)
	want := map[replica.GroupID]bool{}
	for i := range m.Partitions {
		p := &m.Partitions[i]
		if !hasClone(p, self) {
			continue
		}
		gid := replica.GroupID(p.Group)
		want[gid] = true
		if h, ok := n.hosted[gid]; ok && h.incarnation == p.Incarnation {
			continue
		}
		if n.removing[gid] {
			continue // still leaving; start again once it is out
		}
		if err := n.startClone(m, p); err != nil {
			clean = false
			n.log.Warn("cannot host clone", "partition", p.Ref().String(), "group", p.Group, "err", err)
		}
	}
	for gid, h := range n.hosted {
		if want[gid] || n.removing[gid] {
			continue
		}
		if gid == MgmtGroup {
			// The map moved the management clone away: from now on this
			// node learns the map from others (fetchMap, the watcher).
			n.mgmtSM.Store(nil)
		}
		delete(n.hosted, gid)
		n.removing[gid] = true
		n.log.Info("leaving group: the map moved the clone", "partition", h.ref.String(), "group", gid, "epoch", m.Epoch)
		n.wg.Go(func() { n.leave(gid) })
	}
	if clean && len(n.removing) == 0 {
		n.reconciled = m.Epoch
	} else {
		n.reconciled = 0
	}
}

// leave makes the clone leave its group, retrying until it is out or the
// node stops.
func (n *Node) leave(gid replica.GroupID) {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := n.host.RemoveGroup(ctx, gid)
		cancel()
		if err == nil || errors.Is(err, racs.ErrUnknownGroup) {
			n.mu.Lock()
			n.mu.removed[gid] = true
			n.mu.Unlock()
			return
		}
		n.log.Debug("leave not done yet", "group", gid, "err", err)
		select {
		case <-n.stop:
			return
		case <-time.After(n.cfg.Poll):
		}
	}
}

func hasClone(p *partitionmap.Partition, node partitionmap.NodeID) bool {
	for _, c := range p.Clones {
		if c.Node == node {
			return true
		}
	}
	return false
}

// startClone hosts this node's clone of p.
func (n *Node) startClone(m *partitionmap.Map, p *partitionmap.Partition) error {
	if p.Service == partitionmap.MgmtService {
		return n.startMgmtClone(m, p)
	}
	svc, ok := n.svcs[p.Service]
	if !ok {
		return fmt.Errorf("%w: %q (this node lacks its code)", ErrUnknownService, p.Service)
	}
	ms, err := m.Service(p.Service)
	if err != nil {
		return err
	}
	gid := replica.GroupID(p.Group)
	if g, err := n.host.Group(gid); err == nil {
		// Hosted already (a restart's leftovers, or an older
		// incarnation): keep a live clone of this incarnation. A clone
		// that left (a move away that just finished) lingers, stopped,
		// while its ghost answers, and its Info need not say Removed: it
		// is no clone to keep, AddGroup replaces it (the chaos suite's
		// TestKnownBugReAddWhileLeaving).
		if in := g.Info(); in.Status != groupcomm.StatusRemoved && !g.Left() && g.Applied().Incarnation == p.Incarnation {
			n.hosted[gid] = hostedClone{ref: p.Ref(), incarnation: p.Incarnation}
			return nil
		}
	}
	first := groupcomm.View{Cluster: n.cfg.Cluster, Group: p.Group, GroupIncarnation: p.Incarnation, ID: 1}
	var contacts []groupcomm.NodeID
	for _, c := range p.Clones {
		if c.Role == partitionmap.Voter {
			first.Members = append(first.Members, groupcomm.Member{ID: groupcomm.MemberID{Node: groupcomm.NodeID(c.Node), Incarnation: 1}, Role: groupcomm.Voter})
		}
		if c.Node != partitionmap.NodeID(n.cfg.ID) {
			contacts = append(contacts, groupcomm.NodeID(c.Node))
		}
	}
	dur := racs.Memory
	if ms.Durability == partitionmap.Disk {
		dur = racs.Disk
	}
	gc := racs.GroupConfig{Group: gid, Incarnation: p.Incarnation, Durability: dur,
		StateMachine: svc.New(p.Ref()), Contacts: contacts,
		Retain: int(ms.Retain), AckAll: ms.Acks == partitionmap.AckAll} // the map's type, not this node's code
	if _, in := first.LookupNode(n.cfg.ID); in {
		gc.Bootstrap, gc.Create = &first, true
	}
	if _, err := n.host.AddGroup(gc); err != nil && !errors.Is(err, racs.ErrGroupExists) {
		return err
	}
	n.hosted[gid] = hostedClone{ref: p.Ref(), incarnation: p.Incarnation}
	n.log.Info("hosting clone", "partition", p.Ref().String(), "group", p.Group, "epoch", m.Epoch, "create", gc.Create)
	return nil
}

// startMgmtClone hosts the management clone the map places here, like
// any clone but with a mgmt.StateMachine of its own (no service code).
func (n *Node) startMgmtClone(m *partitionmap.Map, p *partitionmap.Partition) error {
	if g, err := n.host.Group(MgmtGroup); err == nil && n.mgmtSM.Load() != nil && g.Info().Status != groupcomm.StatusRemoved {
		n.hosted[MgmtGroup] = hostedClone{ref: p.Ref(), incarnation: p.Incarnation}
		return nil
	}
	ms, err := m.Service(p.Service)
	if err != nil {
		return err
	}
	first := groupcomm.View{Cluster: n.cfg.Cluster, Group: p.Group, GroupIncarnation: p.Incarnation, ID: 1}
	var others []groupcomm.NodeID
	for _, c := range p.Clones {
		if c.Role == partitionmap.Voter {
			first.Members = append(first.Members, groupcomm.Member{ID: groupcomm.MemberID{Node: groupcomm.NodeID(c.Node), Incarnation: 1}, Role: groupcomm.Voter})
		}
		others = append(others, groupcomm.NodeID(c.Node))
	}
	_, voter := first.LookupNode(n.cfg.ID)
	dur := racs.Memory
	if ms.Durability == partitionmap.Disk {
		dur = racs.Disk
	}
	// An error (ErrGroupExists too: a clone of it still leaving) leaves
	// the map unreconciled, so the next round tries again.
	return n.hostMgmt(&first, voter, n.mgmtContacts(others), dur, fmt.Sprintf("the map places it here (epoch %d)", m.Epoch))
}

// reportReady tells the management group which of this node's learners
// hold their state.
func (n *Node) reportReady(ctx context.Context, m *partitionmap.Map) {
	self := partitionmap.NodeID(n.cfg.ID)
	var ready []partitionmap.CloneRef
	for i := range m.Partitions {
		p := &m.Partitions[i]
		l, ok := p.Learner()
		if !ok || l.Node != self || l.Ready {
			continue
		}
		g, err := n.host.Group(replica.GroupID(p.Group))
		if err != nil {
			continue
		}
		if in := g.Info(); in.Status == groupcomm.StatusNormal && in.Role == groupcomm.Voter && !in.Restoring {
			ready = append(ready, partitionmap.CloneRef{Partition: p.Ref(), Node: self})
		}
	}
	if len(ready) == 0 {
		return
	}
	n.adminLogged(ctx, mgmt.Command{Op: mgmt.OpLearnersReady, Epoch: m.Epoch, Ready: ready,
		Reason: fmt.Sprintf("node %d holds the state of %d partitions", n.cfg.ID, len(ready))})
}
