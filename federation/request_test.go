package federation

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestRequestServe(t *testing.T) {
	t.Parallel()
	s := runServer(t)
	gd := connect(t, s, "440000")
	sh := connect(t, s, "310000")
	topic := Topic{Kind: KindRevSnapshot, Province: "440000"}
	ctx, stop := context.WithCancel(testCtx(t))
	err := gd.Serve(ctx, topic, func(req []byte) []byte { return append([]byte("snapshot for "), req...) })
	if err != nil {
		t.Fatalf("Serve: %v", err)
	}
	reply, err := sh.Request(testCtx(t), topic, []byte("310000"))
	if err != nil || string(reply) != "snapshot for 310000" {
		t.Fatalf("Request = %q, %v", reply, err)
	}
	if err := gd.Serve(ctx, Topic{Kind: KindRevSnapshot, Province: "310000"}, nil); !errors.Is(err, ErrForeignProvince) {
		t.Fatalf("serving another province's topic: %v", err)
	}

	stop()
	checkFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		rctx, cancel := context.WithTimeout(testCtx(t), time.Second)
		defer cancel()
		_, err := sh.Request(rctx, topic, []byte("again"))
		if !errors.Is(err, nats.ErrNoResponders) {
			return fmt.Errorf("request after Serve stopped: %v, want no responders", err)
		}
		return nil
	})
}
