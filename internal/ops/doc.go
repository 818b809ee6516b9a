// Package ops is the operator's surface that qs-node and qs-frontend
// share: the logger (log/slog with stable keys), TLS for the HTTP
// listeners and mutual TLS for the internal transport loaded from files,
// the gossip key, and HTTP servers with timeouts everywhere, bound before
// anything else starts and shut down gracefully.
//
// Stable log keys, used by every package: node, service, partition, group,
// view, epoch (and err). A command builds its logger with NewLogger and
// adds "node" once; packages add the others where they apply.
//
// The caller's duties: bind every listener (Listen) before touching the
// store, so a busy port is reported as such and not as a store error;
// shut servers down (Shutdown) before closing what their handlers use.
package ops
