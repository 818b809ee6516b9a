package groupcomm

// TestingKnobs are for tests only (like CockroachDB's TestingKnobs): each
// planted bug switches off one protocol rule, so that a simulation can
// show its checker catches the violation the rule prevents; OnAccept lets
// the checker see acceptances as they happen. Production code leaves
// Config.Knobs nil.
type TestingKnobs struct {
	// NoFreeze (S1): a follower keeps acking ORDER after it promised.
	NoFreeze bool
	// SeqOnlyCompare (S2): viewstamps are compared by seq alone.
	SeqOnlyCompare bool
	// LearnersVote (S3): learners count in quorums.
	LearnersVote bool
	// ReplyBeforePersist (S4): the promise and the acceptance are not in
	// the HardState handed to the caller before the replies leave.
	ReplyBeforePersist bool
	// StrictNoQuorum (S6): a read index is answered without a quorum round.
	StrictNoQuorum bool
	// DeliverUnstable: entries are delivered before they are stable.
	DeliverUnstable bool
	// CommitNoMajority: a proposal is committed after the first Accepted.
	CommitNoMajority bool
	// RestartGapFreeStart: Restart keeps the gap-free start of the
	// persisted log instead of the entries contiguous from the applied
	// position, and a restored snapshot does not replace the log below it.
	RestartGapFreeStart bool
	// PromoteStaleReady: a learner's LearnerReady is remembered across
	// views and restarts, a restarted learner that restored a snapshot
	// below its view's cut comes back restoring, and a promotion makes a
	// restoring learner a voter without its state.
	PromoteStaleReady bool

	// OnAccept, if set, sees every proposal this member accepts, as it
	// accepts it (the simulations' P14 check).
	OnAccept func(b Ballot, v View)
}

// PlantedBugs names the planted bugs of TestingKnobs, for test flags.
var PlantedBugs = []string{"no-freeze", "seq-only", "learners-vote", "reply-before-persist",
	"strict-no-quorum", "deliver-unstable", "commit-no-majority", "restart-gap-free-start",
	"promote-stale-ready"}

// PlantBug switches on the planted bug with the given name (one of
// PlantedBugs; "" plants nothing). It reports false for an unknown name.
func (k *TestingKnobs) PlantBug(name string) bool {
	switch name {
	case "":
	case "no-freeze":
		k.NoFreeze = true
	case "seq-only":
		k.SeqOnlyCompare = true
	case "learners-vote":
		k.LearnersVote = true
	case "reply-before-persist":
		k.ReplyBeforePersist = true
	case "strict-no-quorum":
		k.StrictNoQuorum = true
	case "deliver-unstable":
		k.DeliverUnstable = true
	case "commit-no-majority":
		k.CommitNoMajority = true
	case "restart-gap-free-start":
		k.RestartGapFreeStart = true
	case "promote-stale-ready":
		k.PromoteStaleReady = true
	default:
		return false
	}
	return true
}
