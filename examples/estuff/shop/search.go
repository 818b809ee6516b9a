package shop

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/quicksilver-go/quicksilver/racs"
	"github.com/quicksilver-go/quicksilver/raps"
)

// SearchHit is one ranked match.
type SearchHit struct {
	Product   Product `json:"product"`
	Score     int     `json:"score"`
	Partition int     `json:"partition"`       // set by Search, not by the partition
	Range     string  `json:"range,omitempty"` // "D-F"
}

// MissingPartition is a catalog partition whose answer a search lacks.
type MissingPartition struct {
	Partition int    `json:"partition"`
	Range     string `json:"range"`
	Error     string `json:"error"`
}

// SearchResult is a merged, ranked search over every catalog partition.
// Partial is set, and Missing names the partitions, when some partition
// did not answer: the hits are then those of the others only, never a
// silent subset.
type SearchResult struct {
	Query   string             `json:"query"`
	Hits    []SearchHit        `json:"hits"`
	Partial bool               `json:"partial"`
	Missing []MissingPartition `json:"missing,omitempty"`
}

// score ranks a product for the query words: a word in the name counts
// most (a prefix of a name word a little less), then the category, then
// the description; matching every word, and the whole phrase in the
// name, adds more. Zero means no match.
func score(p *Product, qs []string) int {
	return scoreTerms(p.Name, termsOf(p), qs, strings.Join(qs, " "))
}

// terms is a product's words, split once (Catalog.terms).
type terms struct{ name, cat, desc []string }

func termsOf(p *Product) *terms {
	return &terms{name: words(p.Name), cat: words(p.Category), desc: words(p.Description)}
}

// scoreTerms is score over a product's name and its split words; phrase
// is the query words joined by spaces.
func scoreTerms(pname string, t *terms, qs []string, phrase string) int {
	name, cat, desc := t.name, t.cat, t.desc
	total, matched := 0, 0
	for _, q := range qs {
		best := 0
		for _, w := range name {
			switch {
			case w == q:
				best = max(best, 6)
			case strings.HasPrefix(w, q):
				best = max(best, 4)
			}
		}
		if slices.Contains(cat, q) {
			best = max(best, 3)
		}
		if slices.Contains(desc, q) {
			best = max(best, 1)
		}
		if best > 0 {
			matched++
		}
		total += best
	}
	if matched == 0 {
		return 0
	}
	if matched == len(qs) {
		total += 2 * len(qs)
	}
	if len(qs) > 1 && strings.Contains(pname, phrase) {
		total += 5
	}
	return total
}

// rank sorts hits best first, ties by name, so that merged results have
// one order whatever order the partitions answered in.
func rank(hits []SearchHit) {
	slices.SortFunc(hits, func(a, b SearchHit) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.Product.Name, b.Product.Name)
	})
}

// search is one partition's ranked matches, at most limit.
func (c *Catalog) search(qs []string, limit int) []SearchHit {
	var hits []SearchHit
	if len(qs) == 0 {
		return hits
	}
	phrase := strings.Join(qs, " ")
	for name, p := range c.products {
		if s := scoreTerms(name, c.terms[name], qs, phrase); s > 0 {
			hits = append(hits, SearchHit{Product: *p, Score: s})
		}
	}
	rank(hits)
	return hits[:min(limit, len(hits))]
}

// MaxQueryWords bounds a search's words.
const MaxQueryWords = 8

// Search asks every catalog partition at once (raps.Client.Scatter),
// merges and ranks their hits and keeps the best limit (≤ 0: 20).
func Search(ctx context.Context, c *raps.Client, query string, limit int) (SearchResult, error) {
	qs := words(query)
	if len(qs) == 0 {
		return SearchResult{}, fmt.Errorf("%w: empty search", ErrBadInput)
	}
	if len(qs) > MaxQueryWords {
		return SearchResult{}, fmt.Errorf("%w: over %d search words", ErrBadInput, MaxQueryWords)
	}
	limit = clampLimit(limit)
	parts, err := scatter(ctx, c, catalogOp{Op: "search", Words: qs, Limit: limit}, racs.Any)
	if err != nil {
		return SearchResult{}, err
	}
	res := SearchResult{Query: strings.Join(qs, " "), Hits: []SearchHit{}}
	for _, p := range parts {
		if p.err != nil {
			res.Partial = true
			res.Missing = append(res.Missing, MissingPartition{Partition: p.id, Range: p.label, Error: p.err.Error()})
			continue
		}
		for _, h := range p.res.Hits {
			h.Partition, h.Range = p.id, p.label
			res.Hits = append(res.Hits, h)
		}
	}
	if len(res.Missing) == len(parts) { // nothing answered: not a partial result, none
		return SearchResult{}, fmt.Errorf("%w: no catalog partition answered: %s", ErrUnavailable, res.Missing[0].Error)
	}
	rank(res.Hits)
	res.Hits = res.Hits[:min(limit, len(res.Hits))]
	return res, nil
}

// partAnswer is one catalog partition's decoded scatter answer.
type partAnswer struct {
	id    int
	label string
	res   catalogResult
	err   error
}

// scatter runs a catalog query on every partition and decodes the
// answers; a partition that failed, or answered what cannot be read,
// has err set.
func scatter(ctx context.Context, c *raps.Client, op catalogOp, level racs.Level) ([]partAnswer, error) {
	labels, err := rangeLabels(c)
	if err != nil {
		return nil, err
	}
	out, _, err := c.Scatter(ctx, CatalogService, encode(op), level)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	ans := make([]partAnswer, 0, len(out))
	for _, r := range out {
		a := partAnswer{id: r.Partition.ID, label: labels[r.Partition.ID], err: r.Err}
		if a.err == nil {
			if err := json.Unmarshal(r.Data, &a.res); err != nil || a.res.Status != stOK {
				a.err = fmt.Errorf("%w: %s %s", errBadResult, a.res.Status, a.res.Msg)
			}
		}
		ans = append(ans, a)
	}
	slices.SortFunc(ans, func(a, b partAnswer) int { return cmp.Compare(a.id, b.id) })
	return ans, nil
}
