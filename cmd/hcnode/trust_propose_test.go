package main

import (
	"reflect"
	"strings"
	"testing"
)

// The same propose flags give the same changes, in the same order, every
// time (trust.Propose applies them in order), and a province named by two
// of --suspend, --reinstate and --remove is refused, not settled by
// chance.
func TestProposeChangesAreInAFixedOrder(t *testing.T) {
	pc := proposeChanges{suspends: []string{"440000"}, reinstates: []string{"310000"}, removes: []string{"110000"},
		rmOps: []string{"op-3"}, threshold: 2}
	first, err := pc.changes()
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, c := range first {
		ops = append(ops, c.Op+" "+c.ID)
	}
	if want := []string{"suspend 440000", "reinstate 310000", "remove 110000", "remove-operator op-3", "threshold "}; !reflect.DeepEqual(ops, want) {
		t.Fatalf("changes %q, want %q", ops, want)
	}
	for range 50 {
		again, err := pc.changes()
		if err != nil || !reflect.DeepEqual(again, first) {
			t.Fatalf("the same flags gave %+v (%v), then %+v", first, err, again)
		}
	}

	pc = proposeChanges{suspends: []string{"440000"}, reinstates: []string{"440000"}}
	if _, err := pc.changes(); err == nil || !strings.Contains(err.Error(), "--suspend 440000 and --reinstate 440000") {
		t.Fatalf("a province both suspended and reinstated: %v, want refused naming both flags", err)
	}
}
