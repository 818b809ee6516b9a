// Command shopload measures the eStuff shop through its HTTP API, as
// docs/benchmarks.md records it: checkouts per second with many
// concurrent buyers, and the latency of "search for digital camera" (a
// scatter-gather over every catalog partition), first alone and then
// under that checkout load.
//
//	go run ./examples/estuff -fresh -data /tmp/estuff-bench &   # the demo cluster
//	go run ./examples/estuff/shopload -clients 64 -searchers 4 -duration 20s
//
// It creates one bench product per catalog range with ample stock (PUT
// /shop/product/{name} with the admin token, -token), so every checkout reserves stock on some
// catalog partition and commits on a carts partition. Each buyer is a
// fresh user: add one line to the cart, then POST /checkout with a unique
// Idempotency-Key. A checkout counts when its order is placed; failures
// and non-2xx answers are counted and printed, never folded into the
// rate.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

type options struct {
	url       string
	clients   int
	searchers int
	duration  time.Duration
	query     string
	run       string
	token     string
}

func main() {
	var o options
	fs := flag.NewFlagSet("shopload", flag.ContinueOnError)
	fs.StringVar(&o.url, "url", "http://127.0.0.1:8080", "the front end serving /shop/")
	fs.IntVar(&o.clients, "clients", 64, "concurrent buyers (each loops: add to cart, checkout)")
	fs.IntVar(&o.searchers, "searchers", 4, "concurrent searchers")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "length of each phase (search alone, then search under checkouts)")
	fs.StringVar(&o.query, "q", "digital camera", "the search query")
	fs.StringVar(&o.token, "token", "demo", "the shop's admin token, for creating the bench products")
	fs.StringVar(&o.run, "run", "", "a tag making this run's users and orders unique (default: the start time)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		os.Exit(2)
	}
	if o.clients < 1 || o.searchers < 0 || o.duration <= 0 {
		fmt.Fprintln(os.Stderr, "shopload: -clients must be ≥ 1, -searchers ≥ 0, -duration > 0")
		os.Exit(2)
	}
	if o.run == "" {
		o.run = fmt.Sprintf("r%d", time.Now().Unix()%1000000)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "shopload:", err)
		os.Exit(1)
	}
}

// benchLetters start one bench product name in each of the catalog's
// ranges (A-C, D-F, … V-Z).
var benchLetters = []string{"a", "d", "g", "j", "m", "p", "s", "v"}

func run(o options) error {
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: 4 * (o.clients + o.searchers), MaxIdleConnsPerHost: 4 * (o.clients + o.searchers)}}
	l := &loader{o: o, hc: hc}
	var products []string
	for _, a := range benchLetters {
		name := a + " bench widget"
		body := fmt.Sprintf(`{"name":%q,"price_cents":100,"stock":1000000000,"category":"bench"}`, name)
		if st, b, err := l.do(http.MethodPut, "/shop/product/"+url.PathEscape(name), body, ""); err != nil || st/100 != 2 {
			return fmt.Errorf("creating %q: %d %s %v", name, st, b, err)
		}
		products = append(products, name)
	}
	fmt.Printf("shopload: %s, %d buyers, %d searchers, %v per phase, query %q\n", o.url, o.clients, o.searchers, o.duration, o.query)

	alone := l.phase(0, products)
	alone.print("search alone")
	loaded := l.phase(o.clients, products)
	loaded.print("search under checkout load")
	return nil
}

type loader struct {
	o  options
	hc *http.Client
}

func (l *loader) do(method, path, body, idem string) (int, []byte, error) {
	req, err := http.NewRequest(method, l.o.url+path, bytes.NewBufferString(body))
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	if method == http.MethodPut && l.o.token != "" {
		req.Header.Set("Authorization", "Bearer "+l.o.token)
	}
	resp, err := l.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// result is one phase's counts and latencies.
type result struct {
	elapsed   time.Duration
	searches  []time.Duration
	partial   int64
	searchErr int64
	checkouts []time.Duration // add + checkout, placed orders only
	failed    int64
	errs      map[string]int64
}

func (l *loader) phase(buyers int, products []string) result {
	ctx, cancel := context.WithTimeout(context.Background(), l.o.duration)
	defer cancel()
	var (
		mu  sync.Mutex
		res = result{errs: map[string]int64{}}
		wg  sync.WaitGroup
		seq atomic.Int64
	)
	start := time.Now()
	for s := range l.o.searchers {
		_ = s
		wg.Go(func() {
			var lat []time.Duration
			var partial, errs int64
			path := "/shop/search?q=" + url.QueryEscape(l.o.query)
			for ctx.Err() == nil {
				t0 := time.Now()
				st, b, err := l.do(http.MethodGet, path, "", "")
				d := time.Since(t0)
				if err != nil || st != http.StatusOK {
					errs++
					continue
				}
				var sr struct {
					Partial bool `json:"partial"`
				}
				if json.Unmarshal(b, &sr) == nil && sr.Partial {
					partial++
				}
				lat = append(lat, d)
			}
			mu.Lock()
			res.searches = append(res.searches, lat...)
			res.partial += partial
			res.searchErr += errs
			mu.Unlock()
		})
	}
	for c := range buyers {
		wg.Go(func() {
			var lat []time.Duration
			var failed int64
			errs := map[string]int64{}
			for ctx.Err() == nil {
				n := seq.Add(1)
				user := fmt.Sprintf("%s-b%d-%d", l.o.run, c, n)
				p := products[int(n)%len(products)]
				t0 := time.Now()
				st, b, err := l.do(http.MethodPost, "/shop/cart/"+user, fmt.Sprintf(`{"name":%q,"qty":1}`, p), "")
				if err == nil && st == http.StatusOK {
					st, b, err = l.do(http.MethodPost, "/shop/checkout/"+user, "", "order-"+user)
				}
				d := time.Since(t0)
				switch {
				case err != nil:
					if ctx.Err() == nil {
						errs[err.Error()]++
					}
				case st != http.StatusOK:
					failed++
					errs[fmt.Sprintf("%d %.80s", st, b)]++
				default:
					lat = append(lat, d)
				}
			}
			mu.Lock()
			res.checkouts = append(res.checkouts, lat...)
			res.failed += failed
			for k, v := range errs {
				res.errs[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(p * float64(len(ds)-1))
	return ds[i]
}

func (r result) print(name string) {
	slices.Sort(r.searches)
	slices.Sort(r.checkouts)
	secs := r.elapsed.Seconds()
	fmt.Printf("\n%s (%.1fs):\n", name, secs)
	fmt.Printf("  search    %6d  %8.1f/s  p50 %v  p90 %v  p99 %v  partial %d  errors %d\n", len(r.searches),
		float64(len(r.searches))/secs, pct(r.searches, .50).Round(10*time.Microsecond), pct(r.searches, .90).Round(10*time.Microsecond),
		pct(r.searches, .99).Round(10*time.Microsecond), r.partial, r.searchErr)
	if len(r.checkouts) > 0 || r.failed > 0 {
		fmt.Printf("  checkout  %6d  %8.1f/s  p50 %v  p90 %v  p99 %v  (add to cart + checkout)  failed %d\n", len(r.checkouts),
			float64(len(r.checkouts))/secs, pct(r.checkouts, .50).Round(10*time.Microsecond), pct(r.checkouts, .90).Round(10*time.Microsecond),
			pct(r.checkouts, .99).Round(10*time.Microsecond), r.failed)
	}
	for k, v := range r.errs {
		fmt.Printf("  error ×%d: %s\n", v, k)
	}
}
