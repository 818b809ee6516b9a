package nemesis

import (
	"reflect"
	"testing"
)

func TestPlanIsSeededAndCoversEveryFault(t *testing.T) {
	a, b := Plan(7, 5), Plan(7, 5)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("the same seed planned two schedules:\n%s\n%s", a, b)
	}
	if reflect.DeepEqual(a.Faults, Plan(8, 5).Faults) {
		t.Fatal("seeds 7 and 8 planned the same schedule")
	}
	seen := map[Kind]int{}
	for _, f := range a.Faults {
		seen[f.Kind]++
		if f.Kind != Move && f.Kind != Flaky && len(f.Nodes) == 0 {
			t.Errorf("%s hits no node", f)
		}
	}
	for _, k := range Kinds {
		if seen[k] != 1 {
			t.Errorf("%s planned %d times", k, seen[k])
		}
	}
	if last := a.Faults[len(a.Faults)-1]; last.Kind != CrashAll || len(last.Nodes) != 5 {
		t.Errorf("the last fault is %s, not a crash of every node", last)
	}
	for _, f := range Plan(7, 3).Faults {
		if f.Kind == Kill2 {
			t.Errorf("3 nodes: %s", f)
		}
	}
}
