package main

import (
	"context"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
	"github.com/quicksilver-go/quicksilver/raps/rapstest"
)

// The README's service works as written: on a 3-node cluster, counts add
// up, every clone level reads them, and they survive a clone's crash.
func TestCounterService(t *testing.T) {
	c := rapstest.New(t, 3, rapstest.WithServices(counterService))
	fe := c.FrontEnd(100)
	c.WaitFrontEnd(fe, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := 1; i <= 5; i++ {
		r, err := fe.Update(ctx, "counter", []byte("visits"), []byte("visits"), raps.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(r.Data); got != string(rune('0'+i)) {
			t.Fatalf("update %d answered %q", i, got)
		}
	}
	_, clones := c.ClonesOf("counter", []byte("visits"))
	c.Kill(clones[0])
	r, err := fe.Update(ctx, "counter", []byte("visits"), []byte("visits"), raps.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	q, err := fe.Query(ctx, "counter", []byte("visits"), []byte("visits"), racs.Session, r.Token)
	if err != nil || string(q.Data) != "6" {
		t.Fatalf("session read after the crash: %q, %v", q.Data, err)
	}
}
