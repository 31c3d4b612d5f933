package daemon_test

import (
	"context"
	"testing"

	"github.com/hcfed/hcfed/federation"
	"github.com/hcfed/hcfed/node/daemon"
)

// operatorConn connects to the cluster's NATS as an operator would, for
// publishing statements straight onto the transport.
func operatorConn(t *testing.T, c *daemon.Cluster) *federation.Conn {
	t.Helper()
	conn, err := federation.Connect(context.Background(), federation.ConnConfig{URLs: []string{c.Server.ClientURL()},
		Federation: "demo", Name: "test-operator"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	return conn
}
