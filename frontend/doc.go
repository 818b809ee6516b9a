// Package frontend assembles a stateless front end: it joins the nodes'
// gossip as a front end (it hosts no clone; placement and liveness counts
// leave it out), takes part in their multiplexed TCP transport under an id
// of its own, runs a raps.Client (the Router) that learns the partition
// map from the nodes, and serves the dispatcher's HTTP API on it. No
// second HTTP hop: a call goes from the front end to a clone's node over
// the transport.
//
// qs-frontend is this package behind flags; the in-process demo of
// qs-node runs one too. The caller binds the HTTP listener (ops.Listen)
// before Start, serves Handler on it, and on shutdown calls SetDraining
// (readiness turns 503), shuts the server down, then Close.
package frontend
