package partitionmap

import (
	"fmt"
	"slices"
)

// draft is a change under construction: a shallow copy of the map whose
// top-level slices are copied on first write (copy-on-write), so the old
// map is never touched and the new one shares everything unchanged. A
// partition's Clones slice is replaced, never written in place.
type draft struct {
	m                           Map
	ownNodes, ownSvcs, ownParts bool
}

// begin starts a change of m, compare-and-set on the epoch.
func (m *Map) begin(epoch uint64) (*draft, error) {
	if m == nil {
		return nil, fmt.Errorf("%w: nil map", ErrInvalidArgument)
	}
	if epoch != m.Epoch {
		return nil, fmt.Errorf("%w: the change expects epoch %d, the map is at %d", ErrStaleEpoch, epoch, m.Epoch)
	}
	return &draft{m: *m}, nil
}

func (d *draft) nodes() []Node {
	if !d.ownNodes {
		d.m.Nodes, d.ownNodes = slices.Clone(d.m.Nodes), true
	}
	return d.m.Nodes
}

func (d *draft) services() []Service {
	if !d.ownSvcs {
		d.m.Services, d.ownSvcs = slices.Clone(d.m.Services), true
	}
	return d.m.Services
}

func (d *draft) parts() []Partition {
	if !d.ownParts {
		d.m.Partitions, d.ownParts = slices.Clone(d.m.Partitions), true
	}
	return d.m.Partitions
}

// setClones gives partition i a new clone slice.
func (d *draft) setClones(i int, clones []Clone) {
	d.parts()[i].Clones = clones
}

// commit validates the result and publishes it at the next epoch. The
// change functions check their input first and say precisely what is
// wrong; Validate here is the last line of defence, so no change can ever
// publish a map that breaks an invariant.
func (d *draft) commit() (*Map, error) {
	d.sizeMgmt()
	out := d.m
	out.Epoch++
	if out.Epoch == 0 {
		return nil, fmt.Errorf("%w: epoch overflow", ErrInvalidArgument)
	}
	if err := out.Validate(); err != nil {
		return nil, err
	}
	return &out, nil
}
