package shop

import (
	"fmt"

	"github.com/quicksilver-go/quicksilver/partitionmap"
	"github.com/quicksilver-go/quicksilver/raps"
)

// The services' names in the partition map.
const (
	CatalogService = "catalog"
	CartsService   = "carts"
)

// Defaults of Services.
const (
	DefaultCatalogRanges  = 8 // A-C, D-F, G-I, J-L, M-O, P-R, S-U, V-Z
	DefaultCartPartitions = 4
	DefaultClones         = 3
)

type config struct {
	ranges, carts, clones int
	dur                   partitionmap.Durability
}

// Option adjusts Services.
type Option func(*config)

// WithCatalogRanges sets the number of catalog name ranges (1..26).
func WithCatalogRanges(n int) Option { return func(c *config) { c.ranges = n } }

// WithCartPartitions sets the number of cart partitions.
func WithCartPartitions(n int) Option { return func(c *config) { c.carts = n } }

// WithClones sets the clones per partition of both services.
func WithClones(n int) Option { return func(c *config) { c.clones = n } }

// WithDurability sets both services' durability (default Disk).
func WithDurability(d partitionmap.Durability) Option { return func(c *config) { c.dur = d } }

// Services returns the catalog (range-partitioned by product name) and the
// carts (hash-partitioned by user id) services, for raps.Config.Services
// on every node and for DefineService once.
func Services(opts ...Option) []raps.Service {
	c := config{ranges: DefaultCatalogRanges, carts: DefaultCartPartitions, clones: DefaultClones, dur: partitionmap.Disk}
	for _, o := range opts {
		o(&c)
	}
	return []raps.Service{
		{Name: CatalogService, Partitioning: partitionmap.Range, Ranges: partitionmap.SplitRanges(CatalogBounds(c.ranges)...),
			Clones: c.clones, Durability: c.dur, New: NewCatalog},
		{Name: CartsService, Partitioning: partitionmap.Hash, Partitions: c.carts,
			Clones: c.clones, Durability: c.dur, New: NewCarts},
	}
}

// RangeInfo is one catalog partition's key range.
type RangeInfo struct {
	Partition int    `json:"partition"`
	Label     string `json:"label"`
	Start     string `json:"start"`
	End       string `json:"end,omitempty"` // empty: unbounded
}

// Ranges lists the catalog's partitions from the client's partition map.
func Ranges(c *raps.Client) ([]RangeInfo, error) {
	m := c.Map()
	if m == nil {
		return nil, fmt.Errorf("%w: no partition map yet", ErrUnavailable)
	}
	ps, err := m.ServicePartitions(CatalogService)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	out := make([]RangeInfo, 0, len(ps))
	for _, p := range ps {
		out = append(out, RangeInfo{Partition: p.ID, Label: RangeLabel(p.Start, p.End), Start: string(p.Start), End: string(p.End)})
	}
	return out, nil
}

func rangeLabels(c *raps.Client) (map[int]string, error) {
	rs, err := Ranges(c)
	if err != nil {
		return nil, err
	}
	m := make(map[int]string, len(rs))
	for _, r := range rs {
		m[r.Partition] = r.Label
	}
	return m, nil
}
