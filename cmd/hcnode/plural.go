package main

import "strconv"

// count writes n with the noun that goes with it, for what hcnode prints
// to operators: count(1, "resident record") is "1 resident record",
// count(2, "resident record") "2 resident records". The plural adds "s"
// unless given: count(n, "entry", "entries").
func count(n int, one string, plural ...string) string {
	return strconv.Itoa(n) + " " + noun(n, one, plural...)
}

// noun is the form of a noun for n of it, as count writes it, for a
// count written elsewhere in the sentence ("1 of 3 operators").
func noun(n int, one string, plural ...string) string {
	switch {
	case n == 1 || n == -1:
		return one
	case len(plural) > 0:
		return plural[0]
	}
	return one + "s"
}
