package groupcomm

// readState holds strict reads in progress: at the sequencer, those
// waiting for a quorum round; elsewhere, those forwarded to it.
type readState struct {
	waits     []readWait
	forwarded []uint64
}

type readWait struct {
	from  MemberID
	id    uint64
	index Viewstamp
	frame uint64
}

// ReadIndex starts a strict (linearizable) read with the caller's id. The
// answer comes in Ready.ReadStates: serve the read once the applied
// position reaches Index. The sequencer notes r = Stable on arrival and
// answers once Q(w) voters acked a frame sent after arrival (S6); a frozen
// or deposed sequencer cannot get that quorum and the read fails.
func (n *Node) ReadIndex(id uint64) {
	if n.status != StatusNormal || n.restoring {
		n.out.readStates = append(n.out.readStates, ReadState{ReadID: id, Err: ErrNotNormal})
		return
	}
	if n.seq != nil {
		n.seqRead(n.self, id)
		return
	}
	n.reads.forwarded = append(n.reads.forwarded, id)
	n.send(Message{Type: MsgReadIndex, To: n.view.Sequencer(), ReadID: id})
}

func (n *Node) onReadIndex(m *Message) {
	if n.seq == nil || n.status != StatusNormal {
		n.send(Message{Type: MsgReadIndexResp, To: m.From, ReadID: m.ReadID, Reject: true})
		return
	}
	n.seqRead(m.From, m.ReadID)
}

func (n *Node) seqRead(from MemberID, id uint64) {
	s := n.seq
	w := readWait{from: from, id: id, index: n.stable, frame: s.frame + 1}
	if n.bugs.StrictNoQuorum {
		n.answerRead(w, nil) // planted bug S6: no quorum round
		return
	}
	n.reads.waits = append(n.reads.waits, w)
	for i := range s.peers {
		if s.peers[i].voter {
			s.peers[i].forceFrame = true
		}
	}
	n.checkReads()
}

// checkReads answers the reads whose round a quorum of voters acked.
func (n *Node) checkReads() {
	s := n.seq
	if s == nil || len(n.reads.waits) == 0 {
		return
	}
	keep := n.reads.waits[:0]
	for _, w := range n.reads.waits {
		count := 0
		if n.view.IsVoter(n.self) {
			count++
		}
		for i := range s.peers {
			if s.peers[i].voter && s.peers[i].frameAcked >= w.frame {
				count++
			}
		}
		if count >= n.view.Quorum() {
			n.answerRead(w, nil)
			continue
		}
		keep = append(keep, w)
	}
	n.reads.waits = keep
}

func (n *Node) answerRead(w readWait, err error) {
	if w.from == n.self {
		n.out.readStates = append(n.out.readStates, ReadState{ReadID: w.id, Index: w.index, Err: err})
		return
	}
	n.send(Message{Type: MsgReadIndexResp, To: w.from, ReadID: w.id, VS: w.index, Reject: err != nil})
}

func (n *Node) onReadIndexResp(m *Message) {
	f := n.reads.forwarded
	for i, id := range f {
		if id == m.ReadID {
			n.reads.forwarded = append(f[:i], f[i+1:]...)
			rs := ReadState{ReadID: m.ReadID, Index: m.VS}
			if m.Reject {
				rs.Err = ErrNoQuorum
			}
			n.out.readStates = append(n.out.readStates, rs)
			return
		}
	}
}

// failReads fails every read in progress: the view is changing.
func (n *Node) failReads(err error) {
	for _, w := range n.reads.waits {
		n.answerRead(w, err)
	}
	n.reads.waits = n.reads.waits[:0]
	for _, id := range n.reads.forwarded {
		n.out.readStates = append(n.out.readStates, ReadState{ReadID: id, Err: err})
	}
	n.reads.forwarded = n.reads.forwarded[:0]
}
