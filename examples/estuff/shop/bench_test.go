package shop

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/raps/rapstest"
)

// BenchmarkCheckout measures one single-line checkout (begin, reserve,
// place: three replicated updates) through the Go API on a 3-node
// in-process cluster, carts and cart adds done before the timer.
func BenchmarkCheckout(b *testing.B) {
	c := rapstest.New(b, 3, rapstest.WithServices(Services(WithCartPartitions(2))...))
	fe := c.FrontEnd(100)
	c.WaitFrontEnd(fe, time.Minute)
	ctx := context.Background()
	if _, err := UpsertProduct(ctx, fe, Product{Name: "bench widget", PriceCents: 1, Stock: int64(b.N) + 1}); err != nil {
		b.Fatal(err)
	}
	for i := range b.N {
		if _, err := AddToCart(ctx, fe, fmt.Sprintf("u%d", i), "bench widget", 1, ""); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := Checkout(ctx, fe, fmt.Sprintf("u%d", i), "o1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCatalogSearch measures one partition's share of a search (the
// state machine's Query, JSON in and out) over 3000 sample products
// split into the 8 ranges, as the demo loads them: one partition holds
// about 375.
func BenchmarkCatalogSearch(b *testing.B) {
	c := NewCatalog(partitionmap.PartRef{}).(*Catalog)
	for _, p := range SampleProducts(1, 3000) {
		if p.Name[0] >= 'd' && p.Name[0] <= 'f' {
			c.put(&p)
		}
	}
	q := encode(catalogOp{Op: "search", Words: words("digital camera"), Limit: 20})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Query(q); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(c.products)), "products")
}
