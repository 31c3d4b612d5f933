package daemon_test

import (
	"testing"

	"github.com/hcfed/hcfed/internal/storetemplate"
)

// The nodes these tests create start from a migrated, empty database
// copied from one template instead of applying every migration each.
func TestMain(m *testing.M) { storetemplate.Main(m) }
