package natstest_test

import (
	"context"
	"testing"
	"time"

	"github.com/hcfed/hcfed/internal/natstest"
	"github.com/hcfed/hcfed/internal/testkit"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestR3StreamSurvivesAKilledServerAndItsReplicaCatchesUpOnRestart(t *testing.T) {
	c := natstest.Start(t, natstest.Config{})
	nc, err := nats.Connect(c.ClientURL(0) + "," + c.ClientURL(1) + "," + c.ClientURL(2))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "t.a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	c.WaitStreamsCurrent(natstest.GlobalAccount, "T")
	info, _ := s.Info(ctx)
	leader := -1
	for i := range c.Size() {
		if c.Name(i) == info.Cluster.Leader {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatalf("stream leader %q is none of the servers", info.Cluster.Leader)
	}
	c.Kill(leader)
	testkit.WaitFor(t, natstest.LeaderTimeout, 50*time.Millisecond, "a publish after the stream leader was killed", func() error {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		defer pcancel()
		_, err := js.Publish(pctx, "t.b", []byte("2"), jetstream.WithMsgID("b"))
		return err
	})
	c.Restart(leader)
	c.WaitStreamsCurrent(natstest.GlobalAccount, "T")
	if ns := c.Server(leader); !ns.JetStreamIsStreamCurrent(natstest.GlobalAccount, "T") {
		t.Fatal("restarted server's replica not current")
	}
	info, err = s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Fatalf("stream holds %d messages, want 2", info.State.Msgs)
	}
}

// Crash is SIGKILL, not a shutdown: the stream leader it stops hands its
// leadership to no one, so right after the crash the two others have no
// leader until the election (seconds: nats-server's election timeout is
// at least 4 s), then they elect one, take writes, and the crashed server
// catches up when it returns. (Kill would have handed the leadership
// over: a leader at once.)
func TestCrashedStreamLeaderHandsOverNothingAndTheOthersElectANewLeader(t *testing.T) {
	c := natstest.Start(t, natstest.Config{})
	nc, err := nats.Connect(c.ClientURL(0) + "," + c.ClientURL(1) + "," + c.ClientURL(2))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := t.Context()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "t.a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	c.WaitStreamsCurrent(natstest.GlobalAccount, "T")
	leader := c.StreamLeader(natstest.GlobalAccount, "T")
	if leader < 0 {
		t.Fatal("no stream leader")
	}
	c.Crash(leader)
	if l := c.StreamLeader(natstest.GlobalAccount, "T"); l >= 0 {
		t.Fatalf("%s leads the stream at once after the crash: the leadership was handed over", c.Name(l))
	}
	crashed := time.Now()
	testkit.WaitFor(t, natstest.LeaderTimeout, 50*time.Millisecond, "a publish after the stream leader crashed", func() error {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		defer pcancel()
		_, err := js.Publish(pctx, "t.b", []byte("2"), jetstream.WithMsgID("b"))
		return err
	})
	t.Logf("a new leader took a write %v after the crash", time.Since(crashed).Round(time.Millisecond))
	c.Restart(leader)
	c.WaitStreamsCurrent(natstest.GlobalAccount, "T")
	if ns := c.Server(leader); !ns.JetStreamIsStreamCurrent(natstest.GlobalAccount, "T") {
		t.Fatal("restarted server's replica not current")
	}
}
