package racs_test

import (
	"context"
	"encoding/binary"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quicksilver-go/quicksilver/racs"
)

// A clone paused for 15 s (SIGSTOP) must not serve an "any" read, nor a
// session read without a token, from its state of before the pause when
// it wakes, before it has heard from its sequencer again: TickStale bounds
// how stale an "any" read may be, across pauses, GC stalls and a starved
// process (finding 8). The old code judged freshness by a flag the ticks
// refreshed: the first read after the pause saw the flag of before it and
// answered at once with the overwritten value.
func TestNoStaleReadAfterPause(t *testing.T) {
	for _, level := range []racs.Level{racs.Any, racs.Session} {
		t.Run([]string{"any", "session", "strict"}[level], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := quietSim(t, 3, racs.Disk)
				defer s.close()
				s.submitN(t, 5)
				paused := s.hosts[3]
				g, err := paused.h.Group(1)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.queryNow(g, level); err != nil {
					t.Fatalf("a fresh clone refused a read: %v", err)
				}
				paused.paused = true
				time.Sleep(15 * time.Second)
				g1, _ := s.hosts[1].h.Group(1)
				for i := 0; i < 5; i++ { // the others overwrite the state meanwhile
					p, err := g1.SubmitNoWait([]byte{byte(i)}, "")
					if err != nil {
						t.Fatal(err)
					}
					s.pending = append(s.pending, pendingSubmit{g: 1, p: p})
				}
				s.runUntil(t, 500, func() bool {
					return len(s.pending) == 0 && s.sms[hostGroup{1, 1}].Count() == s.sms[hostGroup{2, 1}].Count()
				})
				want := s.sms[hostGroup{1, 1}].Count()

				done := make(chan uint64, 1)
				go func() {
					out, _, err := g.Query(context.Background(), nil, level, racs.Token{})
					if err != nil {
						done <- 0
						return
					}
					done <- binary.LittleEndian.Uint64(out[8:])
				}()
				synctest.Wait()
				select {
				case n := <-done:
					t.Fatalf("the woken clone answered at once with %d updates (want %d, or a wait)", n, want)
				default:
				}
				paused.paused = false
				for i := 0; i < 100 && len(done) == 0; i++ {
					s.step++
					s.runHosts(true)
				}
				if n := <-done; n < want {
					t.Fatalf("read after the pause saw %d updates, want at least %d", n, want)
				}
			})
		})
	}
}

// queryNow runs a read and, if it waits for the group, the hosts until it
// completes.
func (s *racsSim) queryNow(g *racs.Group, level racs.Level) ([]byte, error) {
	type result struct {
		out []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, _, err := g.Query(context.Background(), nil, level, racs.Token{})
		done <- result{out, err}
	}()
	for {
		synctest.Wait()
		select {
		case r := <-done:
			return r.out, r.err
		default:
		}
		s.step++
		s.runHosts(true)
	}
}

// A quiescent group is not ticked, so its clones hear no contact that
// moves their freshness: an "any" read confirms it with a read round, and
// that round must keep the clone fresh for TickStale, so the next "any"
// reads are answered at once instead of each paying a quorum round (a
// read-only workload on an idle group).
func TestReadRoundKeepsQuiescentCloneFresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := quietSim(t, 3, racs.Disk)
		defer s.close()
		s.submitN(t, 5)
		for i := 0; i < 200; i++ { // let the group go quiescent and its freshness lapse
			s.step++
			s.runHosts(true)
		}
		g, err := s.hosts[3].h.Group(1)
		if err != nil {
			t.Fatal(err)
		}
		// Twice: the freshness lapses, and a read round confirms it. The
		// rounds run without ticks, as in a host whose group is quiescent:
		// only messages move, so from the second round on the core's
		// LastContact (in ticks) cannot change.
		for range 2 {
			time.Sleep(5 * time.Second)
			first := make(chan error, 1)
			go func() {
				_, _, err := g.Query(context.Background(), nil, racs.Any, racs.Token{})
				first <- err
			}()
			for len(first) == 0 {
				synctest.Wait()
				s.runHosts(false)
			}
			if err := <-first; err != nil {
				t.Fatal(err)
			}
		}
		for i := range 10 {
			done := make(chan error, 1)
			go func() {
				_, _, err := g.Query(context.Background(), nil, racs.Any, racs.Token{})
				done <- err
			}()
			synctest.Wait() // the hosts do not run: only a fresh clone answers
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			default:
				for len(done) == 0 { // let it finish, then fail
					s.runHosts(false)
				}
				t.Fatalf("read %d after a read round waited for the group", i)
			}
		}
	})
}
