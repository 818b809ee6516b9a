package groupcomm

import "errors"

// Sentinel errors. Callers use errors.Is.
var (
	// ErrBusy: the sequencer's window of unstable entries is full, or the
	// origin has too many pending submissions (back-pressure).
	ErrBusy = errors.New("groupcomm: busy, window full")
	// ErrNotNormal: the member is not in NORMAL status (frozen by a view
	// change, recovering or restoring); the update was not submitted.
	ErrNotNormal = errors.New("groupcomm: member not in normal status")
	// ErrNotOrdered: the submission was never ordered and never will be
	// (the member was removed); it is safe to retry.
	ErrNotOrdered = errors.New("groupcomm: not ordered, safe to retry")
	// ErrOutcomeUnknown: the member learned it was removed too late to
	// know whether its pending submission was delivered (G6).
	ErrOutcomeUnknown = errors.New("groupcomm: outcome unknown")
	// ErrRemoved: the member has been removed from the group.
	ErrRemoved = errors.New("groupcomm: member removed from group")
	// ErrLeaving: the member is leaving and takes no new submissions.
	ErrLeaving = errors.New("groupcomm: member is leaving")
	// ErrNoQuorum: a strict read could not be confirmed by a quorum.
	ErrNoQuorum = errors.New("groupcomm: no quorum confirmed the read")
	// ErrInvalidConfig: the configuration is not usable.
	ErrInvalidConfig = errors.New("groupcomm: invalid config")
	// ErrInvalidChange: a proposed membership change makes no sense.
	ErrInvalidChange = errors.New("groupcomm: invalid membership change")
	// ErrPayloadTooLarge: a payload exceeds Config.MaxPayloadBytes.
	ErrPayloadTooLarge = errors.New("groupcomm: payload too large")
	// ErrStaleSnapshot: a snapshot older than the learner's view cut.
	ErrStaleSnapshot = errors.New("groupcomm: snapshot older than the view cut")
	// ErrNotLearner: Restore was called on a member that is not restoring.
	ErrNotLearner = errors.New("groupcomm: member is not a restoring learner")
	// ErrLogGap: a restarted voter's persisted log does not reach its
	// view's cut; it would come back without entries it may have
	// acknowledged, so it does not come back at all.
	ErrLogGap = errors.New("groupcomm: persisted log does not reach the installed view's cut")
	// ErrDecode: a message could not be decoded.
	ErrDecode = errors.New("groupcomm: malformed message")
)
