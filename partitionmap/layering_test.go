package partitionmap

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsArePure enforces docs/design.md §2: partitionmap imports nothing of
// the project — only the standard library and xxhash (and rapid in tests).
func TestImportsArePure(t *testing.T) {
	allowed := map[string]bool{
		"github.com/quicksilver-go/quicksilver/partitionmap": true,
		"github.com/cespare/xxhash/v2":                       true,
		"pgregory.net/rapid":                                 true, // tests only, checked below
	}
	for _, args := range [][]string{{"list", "-deps"}, {"list", "-deps", "-test"}} {
		args = append(args, "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".")
		out, err := exec.Command("go", args...).Output()
		if err != nil {
			t.Skipf("go list unavailable: %v", err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line) // "pkg [pkg.test]" for the test variant
			if len(f) == 0 {
				continue
			}
			dep := f[0]
			if !allowed[strings.TrimSuffix(dep, ".test")] {
				t.Errorf("partitionmap depends on %s", dep)
			}
			if len(args) == 5 && dep == "pgregory.net/rapid" {
				t.Error("the package itself (not its tests) imports rapid")
			}
		}
	}
}
