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
// leadership to no one, so the two others take a write only after an
// election (nats-server's election timeout is at least 4 s; with Kill,
// which hands the leadership over, 0.25 s), and the crashed server
// catches up when it returns.
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
	begin := time.Now()
	c.Crash(leader)
	testkit.WaitFor(t, natstest.LeaderTimeout, 50*time.Millisecond, "a publish after the stream leader crashed", func() error {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		defer pcancel()
		_, err := js.Publish(pctx, "t.b", []byte("2"), jetstream.WithMsgID("b"))
		return err
	})
	took := time.Since(begin)
	t.Logf("a new leader took a write %v after the crash began", took.Round(time.Millisecond))
	// An election waits at least 4 s of missed heartbeats; a handover
	// (Kill) takes well under a second.
	if took < 2*time.Second {
		t.Fatalf("a new leader took a write %v after the crash: the leadership was handed over, not elected", took)
	}
	c.Restart(leader)
	c.WaitStreamsCurrent(natstest.GlobalAccount, "T")
	if ns := c.Server(leader); !ns.JetStreamIsStreamCurrent(natstest.GlobalAccount, "T") {
		t.Fatal("restarted server's replica not current")
	}
}
