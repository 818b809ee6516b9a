package membership

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/quicksilver-go/quicksilver/groupcomm"
)

// lossyNet cuts gossip between loopback addresses: every node's transport
// drops packets to, and refuses streams to, addresses it is cut from.
// Each side blocks its own sends, so a two-way cut is silent both ways.
type lossyNet struct {
	mu  sync.Mutex
	cut map[[2]string]bool
}

func (n *lossyNet) blocked(from, to string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cut[[2]string{from, to}]
}

func (n *lossyNet) partition(a, b string, on bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cut == nil {
		n.cut = map[[2]string]bool{}
	}
	n.cut[[2]string{a, b}] = on
	n.cut[[2]string{b, a}] = on
}

// wrap is a Config.testTransport hook.
func (n *lossyNet) wrap(nt *memberlist.NetTransport) memberlist.NodeAwareTransport {
	return &lossyTransport{NetTransport: nt, net: n,
		self: net.JoinHostPort("127.0.0.1", fmt.Sprint(nt.GetAutoBindPort()))}
}

type lossyTransport struct {
	*memberlist.NetTransport
	net  *lossyNet
	self string
}

var errCut = errors.New("test: link cut")

func (t *lossyTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	if t.net.blocked(t.self, addr) {
		return time.Now(), nil // lost on the wire
	}
	return t.NetTransport.WriteTo(b, addr)
}

func (t *lossyTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return t.WriteTo(b, a.Addr)
}

func (t *lossyTransport) DialTimeout(addr string, d time.Duration) (net.Conn, error) {
	if t.net.blocked(t.self, addr) {
		return nil, errCut
	}
	return t.NetTransport.DialTimeout(addr, d)
}

func (t *lossyTransport) DialAddressTimeout(a memberlist.Address, d time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, d)
}

// TestRejoinHealsLongPartition cuts two pairs of nodes apart for longer
// than memberlist gossips to the dead, then mends the links. Only the
// pair with a RejoinInterval merges again; the other stays split.
func TestRejoinHealsLongPartition(t *testing.T) {
	const deadGossip = 100 * time.Millisecond
	var lossy lossyNet
	cfg := func(id groupcomm.NodeID, label string, rejoin time.Duration) Config {
		c := testConfig(t, id)
		c.Label = label // two independent clusters
		c.RejoinInterval = rejoin
		c.testTransport = lossy.wrap
		c.testDeadGossip = deadGossip
		return c
	}
	const rejoin = 200 * time.Millisecond
	ab := cluster(t, cfg(1, "ab", rejoin), cfg(2, "ab", rejoin))
	cd := cluster(t, cfg(3, "cd", -1), cfg(4, "cd", -1))

	for _, p := range [][]*node{ab, cd} {
		lossy.partition(p[0].LocalAddr(), p[1].LocalAddr(), true)
	}
	for _, p := range [][]*node{ab, cd} {
		p[0].rec.await(t, 5*time.Second, EventFailed, p[1].cfg.NodeID)
		p[1].rec.await(t, 5*time.Second, EventFailed, p[0].cfg.NodeID)
	}
	// Outlast the window in which memberlist still gossips to the dead:
	// after it, nothing of memberlist's own reaches a dead node again.
	time.Sleep(3 * deadGossip)
	rejoinsBefore := ab[0].Stats().Rejoins + ab[1].Stats().Rejoins

	healed := time.Now()
	for _, p := range [][]*node{ab, cd} {
		lossy.partition(p[0].LocalAddr(), p[1].LocalAddr(), false)
	}
	waitConverged(t, ab...)
	t.Logf("pair with rejoin merged %v after the links mended", time.Since(healed))
	if ab[0].Stats().Rejoins+ab[1].Stats().Rejoins == rejoinsBefore {
		t.Errorf("merged without a rejoin")
	}
	for i, n := range ab {
		other := ab[1-i].cfg.NodeID
		if !n.rec.eventually(5*time.Second, EventJoin, other, healed) {
			t.Errorf("node %d: no join event for %d after healing: %v", n.cfg.NodeID, other, n.rec.types(other))
		}
	}
	// Control: without re-joins, the other pair stays apart.
	until := time.Now().Add(3 * rejoin)
	for time.Now().Before(until) {
		for _, n := range cd {
			for _, id := range []groupcomm.NodeID{3, 4} {
				if st, _ := stateOf(n, id); id != n.cfg.NodeID && st != StateDead {
					t.Fatalf("node %d sees %d %v without rejoin", n.cfg.NodeID, id, st)
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSuspicionClearsWhenLinkMends cuts node 3 off for less than the
// suspicion timeout: the others suspect it, then report it recovered,
// never failed.
func TestSuspicionClearsWhenLinkMends(t *testing.T) {
	var lossy lossyNet
	var cfgs []Config
	for id := groupcomm.NodeID(1); id <= 3; id++ {
		c := testConfig(t, id)
		c.SuspicionMult = 10 // ≥ 1s from suspicion to death
		c.testTransport = lossy.wrap
		cfgs = append(cfgs, c)
	}
	ns := cluster(t, cfgs...)
	for _, n := range ns[:2] {
		lossy.partition(n.LocalAddr(), ns[2].LocalAddr(), true)
	}
	_, suspected := ns[0].rec.await(t, 3*time.Second, EventSuspect, 3)
	for _, n := range ns[:2] {
		lossy.partition(n.LocalAddr(), ns[2].LocalAddr(), false)
	}
	_, recovered := ns[0].rec.await(t, 3*time.Second, EventRecovered, 3)
	t.Logf("suspect → recovered in %v", recovered.Sub(suspected))
	waitConverged(t, ns...)
	if ns[0].rec.has(EventFailed, 3) {
		t.Errorf("node 3 declared failed: %v", ns[0].rec.types(3))
	}
}
