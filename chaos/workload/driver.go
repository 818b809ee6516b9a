package workload

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/quicksilver-go/quicksilver/groupcomm"
	"github.com/quicksilver-go/quicksilver/raps"
)

// Config says what Start runs.
type Config struct {
	// Seed seeds every client's choices (client i uses Seed and i).
	Seed uint64
	// Clients per workload; zero runs none of that workload.
	AppendClients, RegisterClients, BankClients, IdemClients int
	// Keys is how many list keys (append), register keys and idem list keys
	// the clients share; default 4.
	Keys int
	// Pace is the pause between two operations of one client; default 20ms.
	Pace time.Duration
	// OpTimeout bounds each operation (the Router's retries inside it);
	// default 5s. An update that runs out of it is unknown.
	OpTimeout time.Duration
	// IdemAttempts bounds the attempts of one idempotent update; default 4.
	IdemAttempts int
	// BankAccounts and BankInitial must match the bank service's; defaults
	// 5 and 100.
	BankAccounts int
	BankInitial  uint64
	// KVService is the kv service's name; default raps.KVServiceName.
	KVService string
}

func (c *Config) defaults() {
	if c.Keys <= 0 {
		c.Keys = 4
	}
	if c.Pace <= 0 {
		c.Pace = 20 * time.Millisecond
	}
	if c.OpTimeout <= 0 {
		c.OpTimeout = 5 * time.Second
	}
	if c.IdemAttempts <= 0 {
		c.IdemAttempts = 4
	}
	if c.BankAccounts <= 0 {
		c.BankAccounts = 5
	}
	if c.BankInitial == 0 {
		c.BankInitial = 100
	}
	if c.KVService == "" {
		c.KVService = raps.KVServiceName
	}
}

// Keys of each workload.
func listKey(i int) string { return fmt.Sprintf("list-%d", i) }
func regKey(i int) string  { return fmt.Sprintf("reg-%d", i) }
func idemKey(i int) string { return fmt.Sprintf("idem-%d", i) }

// Run is a running set of clients.
type Run struct {
	cfg    Config
	h      *History
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start starts the clients of cfg, client i on cls[i % len(cls)] (a
// Router each: front ends on either side of a partition). Each client
// runs one operation at a time, Pace apart, until Stop.
func Start(cls []*raps.Client, cfg Config) *Run {
	cfg.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	r := &Run{cfg: cfg, h: NewHistory(), cancel: cancel}
	id := 0
	spawn := func(n int, f func(ctx context.Context, c *client)) {
		for range n {
			c := &client{id: id, cl: cls[id%len(cls)], cfg: &r.cfg, h: r.h, rng: rand.New(rand.NewPCG(cfg.Seed, uint64(id)))}
			id++
			r.wg.Go(func() { f(ctx, c) })
		}
	}
	spawn(cfg.AppendClients, runAppend)
	spawn(cfg.RegisterClients, runRegister)
	spawn(cfg.BankClients, runBank)
	spawn(cfg.IdemClients, runIdem)
	return r
}

// History is the run's history.
func (r *Run) History() *History { return r.h }

// Config is the run's configuration, defaults filled in.
func (r *Run) Config() Config { return r.cfg }

// Stop stops the clients: no new operation starts, and Stop waits until
// the ones in flight completed (each within OpTimeout). It returns the
// history.
func (r *Run) Stop() []Op {
	r.cancel()
	r.wg.Wait()
	return r.h.Ops()
}

// client is one sequential client.
type client struct {
	id  int
	cl  *raps.Client
	cfg *Config
	h   *History
	rng *rand.Rand
}

// opCtx is one operation's context: OpTimeout from now, not cancelled by
// Stop (an operation in flight completes).
func (c *client) opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.cfg.OpTimeout)
}

// update runs one recorded update.
func (c *client) update(op Op, service, key string, cmd []byte, idem string, fill func(*Op, raps.Result)) Op {
	op.Client, op.Key, op.IdemKey = c.id, key, idem
	i := c.h.invoke(op)
	ctx, cancel := c.opCtx()
	res, err := c.cl.Update(ctx, service, []byte(key), cmd, raps.UpdateOptions{IdempotencyKey: idem})
	cancel()
	return c.h.complete(i, func(o *Op) {
		o.Outcome = UpdateOutcome(err)
		if err != nil {
			o.Err = err.Error()
			return
		}
		o.Data, o.Token = res.Data, res.Token
		if fill != nil {
			fill(o, res)
		}
	})
}

// query runs one recorded query; an error makes it Fail (a read changes
// nothing, so the checkers ignore it).
func (c *client) query(op Op, service, key string, q []byte, tok raps.Result, fill func(*Op, raps.Result) error) Op {
	op.Client, op.Key = c.id, key
	i := c.h.invoke(op)
	ctx, cancel := c.opCtx()
	res, err := c.cl.Query(ctx, service, []byte(key), q, op.Level, tok.Token)
	cancel()
	return c.h.complete(i, func(o *Op) {
		if err == nil && fill != nil {
			err = fill(o, res)
		}
		if err != nil {
			o.Outcome, o.Err = Fail, err.Error()
			return
		}
		o.Outcome, o.Token = OK, res.Token
	})
}

// CloneReader answers a query at every clone of the partition of key in
// service, from each clone's own state (not through the Router), keyed by
// node. The caller implements it over its cluster.
type CloneReader func(ctx context.Context, service, key string, query []byte) (map[groupcomm.NodeID][]byte, error)
