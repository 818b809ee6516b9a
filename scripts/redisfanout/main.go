// Command redisfanout is the peer side of BenchmarkTopicFanout
// (raps/fanout): the same fan-out — 8 concurrent publishers, 1, 100 or
// 1,000 subscribers of one channel, an 8-byte payload carrying the send
// time — on a Redis server's pub/sub, measured the same way: published
// messages/s, deliveries/s, and the publish → subscriber latency over
// every delivery. Each Redis subscriber is its own connection (SUBSCRIBE
// is per connection). A tiny RESP client over net; no dependency.
//
//	apt-get install redis-server
//	redis-server --port 16390 --save '' --appendonly no &
//	go run ./scripts/redisfanout -addr 127.0.0.1:16390 -subs 1,100,1000 -n 20000
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:16390", "the Redis server")
	subsList := flag.String("subs", "1,100,1000", "subscriber counts to run")
	n := flag.Int("n", 20000, "messages per run")
	pubs := flag.Int("publishers", 8, "concurrent publishers")
	flag.Parse()
	for _, s := range strings.Split(*subsList, ",") {
		subs, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || subs < 1 {
			fmt.Fprintf(os.Stderr, "redisfanout: bad -subs %q\n", s)
			os.Exit(2)
		}
		if err := run(*addr, subs, *n, *pubs); err != nil {
			fmt.Fprintln(os.Stderr, "redisfanout:", err)
			os.Exit(1)
		}
	}
}

func bulk(b []byte, s []byte) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, "\r\n"...)
	b = append(b, s...)
	return append(b, "\r\n"...)
}

func command(args ...[]byte) []byte {
	b := []byte("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b = bulk(b, a)
	}
	return b
}

// readLine reads one RESP line without its CRLF.
func readLine(r *bufio.Reader) (string, error) {
	l, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(l, "\r\n"), nil
}

// readArray reads a RESP array of bulk strings and integers.
func readArray(r *bufio.Reader) ([][]byte, error) {
	h, err := readLine(r)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(h, "*") {
		return nil, fmt.Errorf("want an array, got %q", h)
	}
	k, _ := strconv.Atoi(h[1:])
	out := make([][]byte, 0, k)
	for range k {
		l, err := readLine(r)
		if err != nil {
			return nil, err
		}
		switch {
		case strings.HasPrefix(l, "$"):
			m, _ := strconv.Atoi(l[1:])
			buf := make([]byte, m+2)
			if _, err := io.ReadFull(r, buf); err != nil {
				return nil, err
			}
			out = append(out, buf[:m])
		case strings.HasPrefix(l, ":"):
			out = append(out, []byte(l[1:]))
		default:
			return nil, fmt.Errorf("unexpected %q", l)
		}
	}
	return out, nil
}

func run(addr string, subs, n, pubs int) error {
	channel := []byte(fmt.Sprintf("fanout-%d-%d", subs, time.Now().UnixNano()))
	var mu sync.Mutex
	var lats []time.Duration
	var wg sync.WaitGroup
	ready := make(chan error, subs)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range subs {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		conns = append(conns, c)
		wg.Go(func() {
			r := bufio.NewReaderSize(c, 64<<10)
			if _, err := c.Write(command([]byte("SUBSCRIBE"), channel)); err != nil {
				ready <- err
				return
			}
			if _, err := readArray(r); err != nil { // the subscribe confirmation
				ready <- err
				return
			}
			ready <- nil
			mine := make([]time.Duration, 0, n)
			for len(mine) < n {
				msg, err := readArray(r)
				if err != nil {
					if !errors.Is(err, net.ErrClosed) {
						fmt.Fprintf(os.Stderr, "redisfanout: a subscriber ended after %d: %v\n", len(mine), err)
					}
					break
				}
				if len(msg) == 3 && len(msg[2]) == 8 {
					mine = append(mine, time.Duration(time.Now().UnixNano()-int64(binary.BigEndian.Uint64(msg[2]))))
				}
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		})
	}
	for range subs {
		if err := <-ready; err != nil {
			return err
		}
	}
	start := time.Now()
	var pw sync.WaitGroup
	errs := make(chan error, pubs)
	for p := range pubs {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		conns = append(conns, c)
		pw.Go(func() {
			r := bufio.NewReader(c)
			val := make([]byte, 8)
			for i := p; i < n; i += pubs {
				binary.BigEndian.PutUint64(val, uint64(time.Now().UnixNano()))
				if _, err := c.Write(command([]byte("PUBLISH"), channel, val)); err != nil {
					errs <- err
					return
				}
				if _, err := readLine(r); err != nil { // :<receivers>
					errs <- err
					return
				}
			}
		})
	}
	pw.Wait()
	published := time.Since(start)
	close(errs)
	for err := range errs {
		return err
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		for _, c := range conns[:subs] {
			c.Close()
		}
		<-done
	}
	total := time.Since(start)
	slices.Sort(lats)
	if len(lats) == 0 {
		return fmt.Errorf("no deliveries")
	}
	fmt.Printf("redis pub/sub  subs=%-5d  published %8.0f/s  deliveries %9.0f/s (%d of %d)  p50 %v  p99 %v\n",
		subs, float64(n)/published.Seconds(), float64(len(lats))/total.Seconds(), len(lats), n*subs,
		lats[len(lats)/2].Round(10*time.Microsecond), lats[len(lats)*99/100].Round(10*time.Microsecond))
	return nil
}
