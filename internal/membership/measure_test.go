package membership

import (
	"os"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
)

// TestMeasureFailureDetectionDefaults measures Shutdown → EventSuspect
// and → EventFailed with DefaultConfig's LAN timing (1s probes, ×4
// suspicion). It takes about 6s, so it runs only with QS_MEASURE=1.
func TestMeasureFailureDetectionDefaults(t *testing.T) {
	if os.Getenv("QS_MEASURE") == "" {
		t.Skip("set QS_MEASURE=1 to measure failure detection with default timing")
	}
	var cfgs []Config
	for id := groupcomm.NodeID(1); id <= 3; id++ {
		c := DefaultConfig()
		c.NodeID, c.BindAddr, c.BindPort = id, "127.0.0.1", 0
		c.Meta.Addr = "127.0.0.1:1"
		c.Logger = testLogger(t)
		cfgs = append(cfgs, c)
	}
	ns := cluster(t, cfgs...)
	stopped := time.Now()
	if err := ns[2].Shutdown(); err != nil {
		t.Fatal(err)
	}
	for _, n := range ns[:2] {
		_, at := n.rec.await(t, 15*time.Second, EventFailed, 3)
		if _, sat, ok := n.rec.find(EventSuspect, 3); ok {
			t.Logf("node %d: suspect after %v, failed after %v", n.cfg.NodeID, sat.Sub(stopped), at.Sub(stopped))
		} else {
			t.Logf("node %d: failed after %v (no own suspicion)", n.cfg.NodeID, at.Sub(stopped))
		}
	}
}
