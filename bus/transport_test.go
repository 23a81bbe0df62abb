package bus_test

import (
	"testing"

	"github.com/shopbus/shopbus/bus/transporttest"
)

// TestInstancesShareTheOutbox: three instances on one database, each
// handing over what it claims to its own handlers (the built-in transport).
func TestInstancesShareTheOutbox(t *testing.T) {
	transporttest.InstancesShareTheOutbox(t, nil)
}
