// Package storetemplate gives the nodes a test binary creates a migrated,
// empty database copied from one template, made once per binary by the
// real migrations, instead of applying every migration to each
// (store.UseSchemaTemplateInTests). It is for the TestMain of packages
// whose tests create many nodes; no command imports it, and the store's
// own tests, which test the migrations, do not use it.
package storetemplate

import (
	"fmt"
	"os"
	"testing"

	"github.com/hcfed/hcfed/node/store"
)

// Main runs m's tests with the schema template on, in a directory of its
// own under the temporary directory that it removes afterwards, and exits
// with their status. Call it as a package's TestMain:
//
//	func TestMain(m *testing.M) { storetemplate.Main(m) }
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "hcfed-schema-template-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "storetemplate: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	store.UseSchemaTemplateInTests(dir)
	defer store.UseSchemaTemplateInTests("")
	return m.Run()
}
