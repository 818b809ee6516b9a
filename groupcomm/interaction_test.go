package groupcomm_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestInteraction runs the scripted interaction scenarios in testdata/*.txt,
// in the style of etcd raft's interaction tests. Each file drives a cluster
// of Nodes by hand: which messages are delivered, dropped or held, when
// nodes tick, crash, restart or are partitioned, and prints what every
// Ready carried. Rewrite the expected output with
//
//	go test ./groupcomm -run TestInteraction -rewrite
//
// and read the diff: the outputs pin down correct protocol behaviour.
// The commands are documented on (*interactionEnv).handle.
func TestInteraction(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		if filepath.Dir(path) != "testdata" || !strings.HasSuffix(path, ".txt") {
			t.Skip("not an interaction scenario")
		}
		env := newInteractionEnv()
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			return env.handle(t, td)
		})
	})
}
