// Package dispatcher is the HTTP front end of a RAPS (docs/design.md §6): a chi
// router over a raps.Client (the Router) that serves the generic service
// API, the built-in kv service, the partition map, the admin API and the
// health checks. It is stateless: run as many as you like, in the
// stateless front end (raps.NewClient) or inside a node (Node.Client).
//
//	d, err := dispatcher.New(dispatcher.Config{Router: client, AdminToken: tok})
//	srv := d.Server(":8080") // every timeout set
//	err = srv.ListenAndServe()
//
// # Routes
//
//	POST   /v1/services/{svc}/update   {"key", "op", "idempotency_key"?} → {"result", "result_base64", "token", "partition", "view", "clone"}
//	POST   /v1/services/{svc}/query    {"key", "query", "consistency"?, "token"?} → {"result", "result_base64", "token", "partition", "clone"}
//	POST   /v1/services/{svc}/scatter  {"query", "consistency"?} → {"results": [{"partition", "result", "result_base64", "token", "clone"} | {"partition", "error"}], "partial"}
//	GET    /v1/services/{svc}/watch    ?key=|?partition=, &from=TOKEN or Last-Event-ID → server-sent events (watch.go)
//	PUT    /v1/kv/{key}                raw value; Idempotency-Key header → {"token", "partition", "view"}
//	GET    /v1/kv/{key}?consistency=&token=   → the raw value (application/octet-stream); 404 not_found
//	DELETE /v1/kv/{key}                → {"token", …}; 404 not_found if there was nothing (the delete was still ordered)
//	POST   /v1/kv/{key}/cas            {"expect", "value"} → {"ok": true, "token"}; 409 {"ok": false, "token", "error"}
//	POST   /v1/kv/{key}/append         raw element → {"token", "length"}
//	GET    /v1/kv/{key}/list?consistency=&token=&encoding=text|base64 → JSON array of the elements
//	GET    /v1/map                     the partition map (JSON, partitionmap's encoding)
//	GET    /livez                      200 while the process serves
//	GET    /readyz                     200, or 503 not_ready with the reason (Config.Ready; default: a map is held)
//	/v1/admin/…                        see below
//
// A key in a kv route is one path segment: percent-encode "/" (and
// anything else) as %2F; it is decoded before use. Keys have 1 to
// Config.MaxKey bytes. Responses carry the headers QS-Partition (the
// partition id), QS-View (the view an update was ordered in), QS-Clone
// (the node that answered) and QS-Token (the freshness token) whenever
// the answer has them.
//
// # Binary payloads
//
// JSON carries bytes in one of two ways, chosen per field by the caller:
// a field ("key", "op", "query", "expect", "value") is a JSON string
// whose UTF-8 bytes are the bytes, or its twin with "_base64" appended
// ("key_base64", "op_base64", …) is standard base64 (RFC 4648, padded).
// Giving both is a 400. Answers always carry "result_base64", and also
// "result" (the text) when the bytes are valid UTF-8. For the built-in kv
// service, an op or query is package kv's binary command (kv.Encode) and
// a result starts with kv's status byte: use op_base64 and result_base64.
// The generic API hands a service's result back as it is: an update the
// service's state machine finds malformed is still a 200 whose result
// says so (kv's StatusBadInput); a query its state machine refuses with
// an error is 400 bad_query.
// Raw kv routes take and give the value's bytes as they are.
//
// # Consistency and tokens
//
// consistency is any (the default without a token), session (the default
// with one) or strict (docs/design.md §1, G5). A token is "<group>.<incarnation>.<seq>"
// in decimal: the partition's group, the group's incarnation and a
// delivered position. Treat it as opaque and pass back one an answer gave
// (the "token" field or QS-Token) as token= (kv GET) or "token" (query).
//
//   - A token that does not parse is 400 bad_token; so is one of another
//     group or incarnation than the key's partition has now (a token of
//     another key's partition, or from before the group was re-created).
//   - A session read waits at most Config.TokenWait for a clone that has
//     reached the token. If none has, the dispatcher reads strictly
//     (a read index the sequencer confirms): an answer at or past the
//     token serves the session read, since it is fresher; if the group has
//     not even ordered the token's position, the token was never issued
//     by this cluster ("from the future") and the answer is 400
//     token_ahead, after TokenWait plus one strict read — never a wait
//     for the whole request timeout.
//   - A scatter reads at any or strict; session there is 400
//     bad_consistency (a token names one partition).
//
// # Status codes
//
// One table (errors.go) decides every answer's status; every error body
// is {"error": {"code": "...", "message": "..."}}, and the message says
// what was wrong:
//
//	200                                  done
//	400 bad_json, bad_body, bad_base64    the body is not what the route takes (the message says where)
//	400 bad_key, key_too_long             empty, undecodable or too long key (the limit is in the message)
//	400 bad_consistency, bad_token, token_ahead, bad_idempotency_key, bad_encoding, bad_param
//	400 bad_query                         the service's state machine refused the query
//	400 unknown_node, unknown_partition, unknown_service, bad_clones, invalid_move, too_few_nodes, … (admin: nothing changed)
//	401 unauthorized                      admin route without the right Bearer token
//	404 unknown_service                   no such service in the map
//	404 not_found                         no such key (kv)
//	404 unknown_route                     no such route
//	404 admin_disabled                    admin route, but no admin token is configured
//	405 method_not_allowed                the route exists for other methods (Allow lists them)
//	406 not_utf8                          kv list as text of a non-UTF-8 element (ask encoding=base64)
//	409 cas_failed                        compare-and-set: not the expected value (body also has "ok": false)
//	409 exists, move_in_progress, node_in_use   admin change conflicts with the map
//	413 too_large                         body beyond Config.MaxBody, or an update beyond Config.MaxOp (the limits are in the message)
//	422 idempotency_key_reused            the key was used before with a different update; nothing applied
//	503 not_applied + Retry-After         certainly not done, safe to retry: no map yet (raps.ErrNoMap), not applied
//	                                      (minority side, view change before ordering), no quorum, busy, stale clone,
//	                                      a stale map; for a read also its deadline (a read is always safe to retry)
//	503 busy + Retry-After                more than Config.Throttle requests in progress (/livez is never throttled)
//	503 not_ready                         /readyz only
//	504 outcome_unknown                   an update (or admin change) whose deadline passed after it may have been
//	                                      ordered (racs.ErrOutcomeUnknown): retry with the same idempotency key
//	500 internal                          a bug; nothing a request can provoke
//
// # Idempotency
//
// An update may carry an idempotency key (the body's "idempotency_key"
// or the Idempotency-Key header; both given must agree; at most 128
// printable ASCII bytes). The group de-duplicates it in replicated state,
// so retrying after a 504 with the same key applies the update exactly
// once (G6). Without a key the Router still de-duplicates its own
// retries, but a client's retry after a 504 may apply twice.
//
// # Admin API
//
// Under /v1/admin/, with Authorization: Bearer <Config.AdminToken>
// (compared in constant time). An empty AdminToken disables it: every
// admin route answers 404 admin_disabled; a missing or wrong token is
// 401. Changes are checked against the current map first — a bad node,
// service, partition or count is a 400 naming it and nothing is proposed
// — and then proposed to the management group as a compare-and-set on
// the map's epoch; they answer {"ok": true, "epoch"}.
//
//	GET  /v1/admin/members                {"epoch", "members": [{id, addr, state, zone, load, epoch, role}]} (Config.Members, else from the map)
//	GET  /v1/admin/map                    the partition map
//	GET  /v1/admin/history?since=&limit=  {"changes": [{epoch, time, op, reason, summary}]} after epoch since (limit ≤ 10000, default 100)
//	GET  /v1/admin/moves                  {"epoch", "moves": [...], "recent": [...]}: partitions whose clones differ from
//	                                      the desired ones (learners with their progress, voters on draining or dead nodes,
//	                                      too few or too many voters), each with the latest history reason that names it
//	GET  /v1/admin/trace?service=&key=    raps.Client.Trace: key → hash/slot → partition → group → view → clones with the
//	                                      picker's numbers, and the clone it favours and why (key_base64= for binary keys)
//	POST /v1/admin/drain   {"node"}                             the placer moves the node's clones away
//	POST /v1/admin/move    {"service", "partition", "from", "to"}   move one clone (a learner on "to" first)
//	POST /v1/admin/clones  {"service", "clones"}               change a service's clones per partition
//
// # Middleware and limits
//
// Every request passes chi's RequestID and ClientIPFromRemoteAddr (or
// ClientIPFromXFF with Config.TrustedProxies; chi's RealIP trusts any
// header and is deprecated), a recoverer and a throttle of the
// dispatcher's own (chi's write plain-text bodies; every error here is
// JSON), chi's GetHead (HEAD answers as GET) and Compress (JSON answers),
// then Config.Middlewares. Each
// call into the cluster is bounded by Config.RequestTimeout through the
// request's context (chi's Timeout would write a bare 504 after the
// handler, blurring 503 and 504). Bodies are read through
// http.MaxBytesReader(Config.MaxBody); a body of exactly MaxBody is
// accepted. An update whose encoded command would exceed Config.MaxOp
// (sized under the groups' 1 MiB payload bound) is 413 here rather than
// refused inside the cluster; so with the defaults a kv value of a full
// MiB is a 413 that names both limits.
//
// # The caller's duties
//
// Give the Dispatcher a Router that learns the map (a front end's
// raps.NewClient fed by its transport, or a Node's Client), serve it with
// Server (or an http.Server with its own timeouts), mount /metrics and
// pprof through Config.Extra behind your own access control, set
// AdminToken from a secret, and terminate TLS in front of it or with
// Server's TLSConfig.
package dispatcher
