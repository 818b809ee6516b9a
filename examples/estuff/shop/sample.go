package shop

import (
	"cmp"
	"context"
	"fmt"
	"math/rand"
	"slices"
	"sync"

	"github.com/quicksilver-go/quicksilver/raps"
)

// kinds of sample products: a name stem (spread over the alphabet so that
// every range of the catalog gets some), a category and brands.
var kinds = []struct {
	stem, category string
	brands         []string
}{
	{"air fryer", "kitchen", []string{"philips", "ninja", "cosori"}},
	{"bluetooth speaker", "audio", []string{"jbl", "bose", "sony", "anker"}},
	{"coffee grinder", "kitchen", []string{"baratza", "breville", "delonghi"}},
	{"digital camera", "cameras", []string{"nikon", "canon", "sony", "fujifilm", "panasonic"}},
	{"dslr camera", "cameras", []string{"nikon", "canon", "pentax"}},
	{"drone", "cameras", []string{"dji", "parrot", "autel"}},
	{"espresso machine", "kitchen", []string{"breville", "delonghi", "gaggia", "rancilio"}},
	{"electric kettle", "kitchen", []string{"bosch", "smeg", "fellow"}},
	{"fitness tracker", "wearables", []string{"fitbit", "garmin", "xiaomi"}},
	{"gaming mouse", "computers", []string{"logitech", "razer", "steelseries"}},
	{"headphones", "audio", []string{"sony", "bose", "sennheiser", "beyerdynamic"}},
	{"instant camera", "cameras", []string{"fujifilm", "polaroid", "kodak"}},
	{"juicer", "kitchen", []string{"omega", "hurom", "breville"}},
	{"keyboard", "computers", []string{"logitech", "keychron", "ducky"}},
	{"laptop", "computers", []string{"lenovo", "dell", "apple", "asus", "hp"}},
	{"monitor", "computers", []string{"lg", "dell", "samsung", "benq"}},
	{"microwave oven", "kitchen", []string{"panasonic", "samsung", "sharp"}},
	{"nas drive", "computers", []string{"synology", "qnap", "wd"}},
	{"office chair", "furniture", []string{"herman miller", "steelcase", "ikea"}},
	{"printer", "computers", []string{"brother", "epson", "hp", "canon"}},
	{"projector", "video", []string{"epson", "benq", "optoma"}},
	{"quadcopter", "cameras", []string{"dji", "holy stone", "ryze"}},
	{"robot vacuum", "home", []string{"roomba", "roborock", "ecovacs"}},
	{"smartphone", "phones", []string{"apple", "samsung", "google", "oneplus"}},
	{"smartwatch", "wearables", []string{"apple", "garmin", "samsung"}},
	{"tablet", "computers", []string{"apple", "samsung", "lenovo"}},
	{"toaster", "kitchen", []string{"smeg", "dualit", "breville"}},
	{"usb hub", "computers", []string{"anker", "satechi", "ugreen"}},
	{"vacuum cleaner", "home", []string{"dyson", "miele", "shark"}},
	{"webcam", "computers", []string{"logitech", "razer", "elgato"}},
	{"wireless charger", "phones", []string{"anker", "belkin", "mophie"}},
	{"xbox controller", "games", []string{"microsoft", "powera"}},
	{"yoga mat", "sports", []string{"manduka", "lululemon", "gaiam"}},
	{"zoom lens", "cameras", []string{"nikon", "canon", "sigma", "tamron"}},
}

var adjectives = []string{"compact", "professional", "lightweight", "silent", "premium", "budget", "travel", "smart"}

// fixed sample products every seed includes: the lecture's digital
// cameras, one of them the last in stock.
var fixed = []Product{
	{Name: "digital camera nikon d3500", Description: "24 megapixel dslr digital camera, the last one in stock", Category: "cameras", PriceCents: 44900, Stock: 1},
	{Name: "digital camera canon powershot g7x", Description: "compact digital camera for travel", Category: "cameras", PriceCents: 69900, Stock: 12},
	{Name: "digital camera sony rx100", Description: "premium compact digital camera", Category: "cameras", PriceCents: 79900, Stock: 7},
	{Name: "digital camera fujifilm x100v", Description: "fixed lens digital camera", Category: "cameras", PriceCents: 139900, Stock: 3},
}

// SampleProducts returns n products (at least the fixed ones) generated
// from seed: the same seed and n give the same products, sorted by name,
// names unique and normalized, spread over every catalog range.
func SampleProducts(seed int64, n int) []Product {
	rng := rand.New(rand.NewSource(seed))
	seen := map[string]bool{}
	out := make([]Product, 0, max(n, len(fixed)))
	for _, p := range fixed {
		seen[p.Name] = true
		out = append(out, p)
	}
	for tries := 0; len(out) < n && tries < 20*n; tries++ {
		k := kinds[rng.Intn(len(kinds))]
		brand := k.brands[rng.Intn(len(k.brands))]
		model := fmt.Sprintf("%c%d", 'a'+rune(rng.Intn(26)), 10+rng.Intn(990))
		name := k.stem + " " + brand + " " + model
		if seen[name] {
			continue
		}
		seen[name] = true
		adj := adjectives[rng.Intn(len(adjectives))]
		out = append(out, Product{
			Name:        name,
			Description: fmt.Sprintf("%s %s by %s, model %s", adj, k.stem, brand, model),
			Category:    k.category,
			PriceCents:  int64(999 + rng.Intn(200000)),
			Stock:       int64(rng.Intn(50)),
		})
	}
	slices.SortFunc(out, func(a, b Product) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// LoadBatch is the most products Load sends in one update.
const LoadBatch = 64

// Load writes the products that are not in the catalog yet; those that
// are keep their stock and fields. Reloading the same data is a no-op,
// so a demo restarted on the same data directory neither duplicates nor
// resets stock: the "create" op inserts only absent names, which is
// idempotent by itself, so it needs no idempotency key of ours (the
// Router's own makes its retries safe). Products are grouped by catalog
// partition and sent in batches of LoadBatch, at most 8 at a time. It
// returns how many were created.
func Load(ctx context.Context, c *raps.Client, products []Product) (int, error) {
	m := c.Map()
	if m == nil {
		return 0, fmt.Errorf("%w: no partition map yet", ErrUnavailable)
	}
	byPart := map[int][]Product{}
	for _, p := range products {
		n, err := NormalizeName(p.Name)
		if err != nil {
			return 0, err
		}
		p.Name = n
		if msg := validProduct(&p); msg != "" {
			return 0, fmt.Errorf("%w: %s: %s", ErrBadInput, n, msg)
		}
		part, err := m.LocateString(CatalogService, n)
		if err != nil {
			return 0, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		byPart[part.ID] = append(byPart[part.ID], p)
	}
	var batches [][]Product
	for _, ps := range byPart {
		for len(ps) > 0 {
			k := min(LoadBatch, len(ps))
			batches = append(batches, ps[:k])
			ps = ps[k:]
		}
	}
	var (
		mu      sync.Mutex
		created int
		first   error
		wg      sync.WaitGroup
		sem     = make(chan struct{}, 8)
	)
	for _, b := range batches {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			res, err := catalogUpdate(ctx, c, b[0].Name, catalogOp{Op: "create", Products: b}, "")
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = fmt.Errorf("shop: load %s…: %w", b[0].Name, err)
			}
			created += res.Created
		})
	}
	wg.Wait()
	return created, first
}
