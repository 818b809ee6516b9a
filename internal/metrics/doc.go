// Package metrics exports a node's counters to Prometheus.
//
// Each component keeps its own counters, cheaply, on its own hot paths
// (atomics, fixed-bucket histograms such as racs.Histogram) and exposes
// them as a Stats snapshot. This package adds no bookkeeping of its own:
// Register installs one custom prometheus.Collector per component, and
// each reads its component's Stats when the registry is gathered (at
// scrape time) and turns it into const metrics. The one exception is
// the HTTP middleware, which observes requests as they end.
//
//	reg := metrics.NewRegistry() // go_* and process_* included
//	err := metrics.Register(reg, metrics.Sources{Host: host, Store: store,
//		Transport: tr, RPC: ep, Members: ml.Members, Router: client})
//	r := chi.NewRouter()
//	r.Use(metrics.HTTPMiddleware(reg)) // with Use: see below
//	r.Handle("/metrics", metrics.Handler(reg))
//
// Every Sources field may be nil; a nil source exports nothing.
//
// # Metrics
//
// Durations are in seconds; "histogram" buckets are powers of two of
// nanoseconds from 2^10 (≈1µs) to 2^34 (≈17s) by factors of four for
// durations, and 1 to 4096 by factors of two for counts. Counters count
// since the component started.
//
//	name                                     type       labels                  meaning
//	qs_racs_groups                           gauge                              group clones hosted
//	qs_racs_ticking_groups                   gauge                              clones on a tick list (not quiescent)
//	qs_racs_views_installed_total            counter                            views installed: a group's first view, view changes, admissions of joiners and restarted clones
//	qs_racs_view_change_duration_seconds     histogram                          time a clone was out of NORMAL (view change, recovery, join) before it installed a view
//	qs_racs_delivered_total                  counter                            deliveries applied by the hosted clones, in order (duplicates and refused updates included)
//	qs_racs_delivery_latency_seconds         histogram                          update submitted here: handover to the group's worker → applied at this clone
//	qs_racs_transfers_total                  counter    direction=sent|received state transfers begun as a donor / snapshots restored as a learner
//	qs_racs_transfer_bytes_total             counter    direction=sent|received snapshot bytes in chunks sent (resends included) / received in order
//	qs_racs_commit_latency_seconds           histogram                          each durable write (Store.Write: one fsync for all groups and workers committing then)
//	qs_racs_commit_entries                   histogram                          log entries per durable write
//	qs_racs_commit_groups                    histogram                          group writes per durable write (the group-commit factor)
//	qs_store_fsyncs_total                    counter                            durable writes of the disk store: one WAL frame, one fdatasync each
//	qs_store_fsync_seconds_total             counter                            time in fdatasync of the WAL
//	qs_store_write_seconds_total             counter                            time in durable writes, fdatasync included
//	qs_store_group_writes_total              counter                            group writes the durable writes carried
//	qs_store_entries_total                   counter                            log entries the durable writes carried
//	qs_store_wal_bytes_total                 counter                            bytes written to the WAL
//	qs_store_wal_segments                    gauge                              WAL segments on disk
//	qs_store_checkpoints_total               counter                            bbolt checkpoint transactions
//	qs_store_checkpoint_seconds_total        counter                            time in checkpoints (off the write path)
//	qs_transport_frames_total                counter    direction=sent|received packet frames over TCP
//	qs_transport_bytes_total                 counter    direction=sent|received packet frame bytes, length prefix included
//	qs_transport_connections                 gauge                              TCP connections in use (at most one per peer)
//	qs_transport_syscalls_total              counter    op=read|write           Read and Write calls on the sockets
//	qs_transport_drains_total                counter                            writer rounds (one flush per peer each)
//	qs_transport_loopback_packets_total      counter                            packets to this node itself, not over the network
//	qs_transport_dropped_total               counter    reason=queue_full|unreachable|too_large|invalid|closed  packets dropped
//	qs_transport_dials_total                 counter                            dial attempts
//	qs_transport_dial_failures_total         counter                            failed dial attempts
//	qs_transport_accepted_total              counter                            inbound connections put in use
//	qs_transport_reconnects_total            counter                            connections put in use for a peer that had one before
//	qs_transport_refused_connections_total   counter    reason=duplicate|handshake|busy|protocol  connections refused or dropped
//	qs_rpc_calls_total                       counter    kind=sent|local|served  requests sent to other nodes, calls to this node, requests served for others
//	qs_rpc_in_flight                         gauge                              calls being served now (the load the Router weighs)
//	qs_rpc_errors_total                      counter    reason=busy|malformed|late_reply|duplicate  calls refused at MaxInFlight, frames dropped
//	qs_rpc_cancels_total                     counter    direction=sent|received cancel frames
//	qs_membership_members                    gauge      state=alive|suspect|dead|left  members in each state, as this node's membership believes (itself included)
//	qs_router_queries_total                  counter                            query attempts of the Router
//	qs_router_hedges_total                   counter                            query attempts hedged to a second clone
//	qs_router_hedge_wins_total               counter                            hedged queries answered by the hedge
//	qs_router_retries_total                  counter                            update and query attempts after the first
//	qs_router_query_p95_seconds              gauge                              recent p95 of query round trips (the hedge delay)
//	qs_http_request_duration_seconds         histogram  route, method, code     HTTP requests served behind HTTPMiddleware (buckets 100µs to 10s)
//
// # Label cardinality
//
// Every label has a fixed, small set of values. There is no per-group,
// per-peer or per-key label: a node hosts many groups and that many
// series would cost more than the groups. qs_http_request_duration_seconds
// is labelled by the chi route pattern (/v1/kv/{key}, never the path), a
// standard method, and the status code; anything else is OtherLabel.
//
// # The HTTP middleware
//
// HTTPMiddleware must be installed on the chi router with router.Use
// (or on a sub-router): chi fills in the route pattern while it routes,
// inside the router, so the middleware reads it after the handler
// returned. Wrapped around the router from outside, it finds no route
// context and labels every request "other".
package metrics
