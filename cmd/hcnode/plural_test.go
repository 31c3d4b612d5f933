package main

import "testing"

func TestCountUsesTheSingularForOneAndThePluralOtherwise(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{count(0, "resident record"), "0 resident records"},
		{count(1, "resident record"), "1 resident record"},
		{count(2, "resident record"), "2 resident records"},
		{count(1, "entry", "entries"), "1 entry"},
		{count(3, "entry", "entries"), "3 entries"},
		{noun(1, "operator"), "operator"},
		{noun(3, "operator"), "operators"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
