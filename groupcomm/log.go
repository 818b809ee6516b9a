package groupcomm

// entryLog is a member's in-memory log: a gap-free run of entries whose
// sequence numbers are consecutive, after base. base is the entry just
// before the first one held: everything up to base is covered (delivered
// and compacted, or restored from a snapshot).
//
// Log invariant (docs/design.md §3): a member that installed view w holds every
// entry ≤ c_w (or a snapshot covering it) plus a gap-free run of view-w
// entries, nothing else. Because seqs continue from c_w.Seq+1 and
// installing truncates above the cut, the seqs are always consecutive.
type entryLog struct {
	base    Viewstamp
	entries []Entry
}

// last returns the highest entry held, or base.
func (l *entryLog) last() Viewstamp {
	if n := len(l.entries); n > 0 {
		return l.entries[n-1].VS
	}
	return l.base
}

// at returns the entry with sequence number seq, if held.
func (l *entryLog) at(seq uint64) (*Entry, bool) {
	if seq <= l.base.Seq {
		return nil, false
	}
	i := seq - l.base.Seq - 1
	if i >= uint64(len(l.entries)) {
		return nil, false
	}
	return &l.entries[i], true
}

// vsAt returns the viewstamp of the entry at seq, including base.
func (l *entryLog) vsAt(seq uint64) (Viewstamp, bool) {
	if seq == l.base.Seq {
		return l.base, true
	}
	e, ok := l.at(seq)
	if !ok {
		return Viewstamp{}, false
	}
	return e.VS, true
}

// append adds e, which must carry seq last().Seq+1.
func (l *entryLog) append(e Entry) {
	l.entries = append(l.entries, e)
}

// slice returns the held entries with lo < seq ≤ hi (a view of the log;
// callers must not modify it).
func (l *entryLog) slice(lo, hi uint64) []Entry {
	if lo < l.base.Seq {
		lo = l.base.Seq
	}
	last := l.last().Seq
	if hi > last {
		hi = last
	}
	if hi <= lo {
		return nil
	}
	return l.entries[lo-l.base.Seq : hi-l.base.Seq]
}

// truncateAbove drops every entry with seq > seq.
func (l *entryLog) truncateAbove(seq uint64) {
	if seq < l.base.Seq {
		seq = l.base.Seq
	}
	n := seq - l.base.Seq
	if n < uint64(len(l.entries)) {
		clear(l.entries[n:])
		l.entries = l.entries[:n]
	}
}

// compactTo drops entries with seq ≤ seq from memory; base moves up.
func (l *entryLog) compactTo(seq uint64) {
	if seq <= l.base.Seq {
		return
	}
	n := seq - l.base.Seq
	if n > uint64(len(l.entries)) {
		return
	}
	l.base = l.entries[n-1].VS
	clear(l.entries[:n])
	l.entries = l.entries[n:]
}

// reset drops everything and sets base.
func (l *entryLog) reset(base Viewstamp) {
	clear(l.entries)
	l.entries = l.entries[:0]
	l.base = base
}
