package shop

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"github.com/quicksilver-go/quicksilver/partitionmap"
)

func apply(t *testing.T, sm interface{ Apply([]byte) []byte }, op any) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal(sm.Apply(encode(op)), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCatalogReserveNeverNegativeAndIdempotent(t *testing.T) {
	c := NewCatalog(partitionmap.PartRef{}).(*Catalog)
	apply(t, c, catalogOp{Op: "upsert", Product: &Product{Name: "digital camera x", PriceCents: 100, Stock: 2}})
	st := func(op catalogOp) string { return apply(t, c, op)["status"].(string) }
	if s := st(catalogOp{Op: "reserve", Name: "digital camera x", Qty: 3, ID: "a"}); s != stOutOfStock {
		t.Fatalf("reserve 3 of 2: %s", s)
	}
	if s := st(catalogOp{Op: "reserve", Name: "digital camera x", Qty: 2, ID: "b"}); s != stOK {
		t.Fatalf("reserve 2 of 2: %s", s)
	}
	if s := st(catalogOp{Op: "reserve", Name: "digital camera x", Qty: 2, ID: "b"}); s != stOK { // a retry
		t.Fatalf("repeat: %s", s)
	}
	if c.products["digital camera x"].Stock != 0 {
		t.Fatalf("stock %d after one reservation of 2", c.products["digital camera x"].Stock)
	}
	if s := st(catalogOp{Op: "reserve", Name: "digital camera x", Qty: 1, ID: "c"}); s != stOutOfStock {
		t.Fatalf("reserve at 0: %s", s)
	}
	st(catalogOp{Op: "release", Name: "digital camera x", ID: "b"})
	st(catalogOp{Op: "release", Name: "digital camera x", ID: "b"})
	if got := c.products["digital camera x"].Stock; got != 2 {
		t.Fatalf("stock %d after releasing twice, want 2", got)
	}
	// A release before its reserve (a compensated unknown outcome) wins.
	st(catalogOp{Op: "release", Name: "digital camera x", ID: "late"})
	if s := st(catalogOp{Op: "reserve", Name: "digital camera x", Qty: 1, ID: "late"}); s != stCancelled {
		t.Fatalf("late reserve: %s", s)
	}
	if s := st(catalogOp{Op: "reserve", Name: "nope", Qty: 1, ID: "d"}); s != stNotFound {
		t.Fatalf("unknown product: %s", s)
	}
	for _, b := range [][]byte{nil, []byte("{"), []byte(`{"op":"reserve","qty":-1,"id":"x"}`), []byte(`{"op":"upsert"}`),
		[]byte(`{"op":"upsert","product":{"name":"Upper"}}`), []byte(`{"op":"zap"}`)} {
		var r catalogResult
		if err := json.Unmarshal(c.Apply(b), &r); err != nil || r.Status != stBadInput {
			t.Errorf("Apply(%q) = %+v, %v; want bad_input", b, r, err)
		}
	}
}

func TestCatalogSnapshotRoundTrip(t *testing.T) {
	c := NewCatalog(partitionmap.PartRef{}).(*Catalog)
	apply(t, c, catalogOp{Op: "create", Products: SampleProducts(1, 50)})
	apply(t, c, catalogOp{Op: "reserve", Name: "digital camera nikon d3500", Qty: 1, ID: "o/1"})
	var a, b bytes.Buffer
	if err := c.Snapshot(&a); err != nil {
		t.Fatal(err)
	}
	d := NewCatalog(partitionmap.PartRef{}).(*Catalog)
	if err := d.Restore(bytes.NewReader(a.Bytes())); err != nil {
		t.Fatal(err)
	}
	if err := d.Snapshot(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) || len(d.products) != 50 || d.products["digital camera nikon d3500"].Stock != 0 {
		t.Fatalf("restored state differs")
	}
	if err := d.Restore(bytes.NewReader([]byte("junk"))); err == nil {
		t.Fatal("restored junk")
	}
}

func TestCartsCheckoutTransitions(t *testing.T) {
	c := NewCarts(partitionmap.PartRef{}).(*Carts)
	if r := apply(t, c, cartOp{Op: "begin", User: "u", Order: "o1"}); r["status"] != stEmpty {
		t.Fatalf("begin on empty cart: %v", r)
	}
	apply(t, c, cartOp{Op: "add", User: "u", Name: "toaster a1", Qty: 2})
	apply(t, c, cartOp{Op: "begin", User: "u", Order: "o1"})
	apply(t, c, cartOp{Op: "add", User: "u", Name: "toaster a1", Qty: 1}) // added after the freeze
	if r := apply(t, c, cartOp{Op: "begin", User: "u", Order: "o1"}); r["order"].(map[string]any)["lines"].([]any)[0].(map[string]any)["qty"] != 2.0 {
		t.Fatalf("a second begin changed the frozen lines: %v", r)
	}
	if r := apply(t, c, cartOp{Op: "place", User: "u", Order: "o1", Total: 10}); r["status"] != stOK {
		t.Fatalf("place: %v", r)
	}
	if r := apply(t, c, cartOp{Op: "fail", User: "u", Order: "o1"}); r["status"] != stConflict {
		t.Fatalf("fail after place: %v", r)
	}
	if it := c.users["u"].Items; len(it) != 1 || it[0].Qty != 1 {
		t.Fatalf("cart after placing 2 of 3: %v", it)
	}
}

func TestSampleProducts(t *testing.T) {
	a, b := SampleProducts(7, 3000), SampleProducts(7, 3000)
	if !slices.Equal(a, b) || len(a) != 3000 {
		t.Fatalf("not deterministic or short: %d", len(a))
	}
	ranges := partitionmap.SplitRanges(CatalogBounds(DefaultCatalogRanges)...)
	per := make([]int, len(ranges))
	cams, last := 0, false
	for i, p := range a {
		if n, err := NormalizeName(p.Name); err != nil || n != p.Name || validProduct(&p) != "" {
			t.Fatalf("product %q invalid: %v", p.Name, err)
		}
		if i > 0 && a[i-1].Name >= p.Name {
			t.Fatalf("not sorted/unique at %q", p.Name)
		}
		for j, r := range ranges {
			if p.Name >= string(r.Start) && (len(r.End) == 0 || p.Name < string(r.End)) {
				per[j]++
			}
		}
		if score(&p, words("digital camera")) > 0 && slices.Contains(words(p.Name), "digital") {
			cams++
			last = last || p.Stock == 1
		}
	}
	for j, n := range per {
		if n == 0 {
			t.Errorf("range %s has no products", RangeLabel(ranges[j].Start, ranges[j].End))
		}
	}
	if cams < 3 || !last {
		t.Errorf("%d digital cameras, one with stock 1: %v", cams, last)
	}
}

func TestNamesAndLabels(t *testing.T) {
	if n, err := NormalizeName("  Digital   CAMERA "); err != nil || n != "digital camera" {
		t.Fatalf("normalize: %q %v", n, err)
	}
	for _, s := range []string{"", "a/b", "x\x00", string(bytes.Repeat([]byte("a"), 200)), "\xff"} {
		if _, err := NormalizeName(s); err == nil {
			t.Errorf("NormalizeName(%q) accepted", s)
		}
	}
	var labels []string
	for _, r := range partitionmap.SplitRanges(CatalogBounds(8)...) {
		labels = append(labels, RangeLabel(r.Start, r.End))
	}
	if want := []string{"A-C", "D-F", "G-I", "J-L", "M-O", "P-R", "S-U", "V-Z"}; !slices.Equal(labels, want) {
		t.Fatalf("labels %v, want %v", labels, want)
	}
}
