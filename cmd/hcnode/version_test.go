package main

import (
	"runtime/debug"
	"testing"
)

// TestVersionNamesABuildWithoutVCSInformation: a build without VCS
// information (GOFLAGS=-buildvcs=false, a source tarball) is named by
// the version set with -ldflags "-X main.version=...", and says how to
// set it when unset; VCS information is shown when the toolchain
// recorded it. Before, every such build printed "(devel) go1.x".
func TestVersionNamesABuildWithoutVCSInformation(t *testing.T) {
	noVCS := &debug.BuildInfo{GoVersion: "go1.25.0", Main: debug.Module{Version: "(devel)"}}
	vcs := &debug.BuildInfo{GoVersion: "go1.25.0", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "4962875aabbccddeeff00112233445566778899"},
		{Key: "vcs.time", Value: "2026-12-01T10:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	for _, tc := range []struct {
		set  string
		bi   *debug.BuildInfo
		want string
	}{
		{"v1.4.0", noVCS, "v1.4.0 go1.25.0"},
		{"", noVCS, `(devel) (no VCS information: build with -ldflags "-X main.version=..." to name it) go1.25.0`},
		{"v1.4.0", vcs, "v1.4.0 (4962875aabbc+dirty, 2026-12-01T10:00:00Z) go1.25.0"},
		{"", vcs, "(devel) (4962875aabbc+dirty, 2026-12-01T10:00:00Z) go1.25.0"},
		{"v1.4.0", nil, "v1.4.0"},
		{"", nil, "unknown"},
	} {
		if got := describeVersion(tc.set, tc.bi); got != tc.want {
			t.Errorf("describeVersion(%q, ...) = %q, want %q", tc.set, got, tc.want)
		}
	}
}
