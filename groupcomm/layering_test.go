package groupcomm_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayering enforces docs/design.md §2: imports point only downward.
// groupcomm imports nothing of the project; replica only groupcomm; the
// clone component groupcomm and replica; racs those and the clone;
// partitionmap nothing; raps all of those (kv is a leaf service).
func TestLayering(t *testing.T) {
	const mod = "github.com/quicksilver-go/quicksilver"
	allowed := map[string][]string{
		"groupcomm":         {"groupcomm"},
		"replica/wal":       {"replica/wal"},
		"replica":           {"groupcomm", "replica/wal", "replica"},
		"internal/clone":    {"groupcomm", "replica/wal", "replica", "internal/clone"},
		"internal/simcheck": {"groupcomm", "internal/simcheck"},
		"racs":              {"groupcomm", "replica/wal", "replica", "internal/clone", "racs"},
		"kv":                {"kv"},
		"partitionmap":      {"partitionmap"},
		"raps/mgmt":         {"partitionmap", "raps/mgmt"},
		"internal/rpc":      {"groupcomm", "replica/wal", "replica", "internal/clone", "racs", "internal/rpc"},
		"raps": {"groupcomm", "replica/wal", "replica", "internal/clone", "racs", "internal/rpc",
			"partitionmap", "raps/mgmt", "kv", "raps"},
	}
	for pkg, ok := range allowed {
		out, err := exec.Command("go", "list", "-deps", mod+"/"+pkg).Output()
		if err != nil {
			t.Skipf("go list unavailable: %v", err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if !strings.HasPrefix(dep, mod+"/") {
				continue
			}
			rel := strings.TrimPrefix(dep, mod+"/")
			found := false
			for _, a := range ok {
				if rel == a {
					found = true
				}
			}
			if !found {
				t.Errorf("%s imports %s: imports must point downward", pkg, rel)
			}
		}
	}
}
