// Package dashboard is the live dashboard of a Quicksilver cluster,
// served by a front end: one HTML page (html/template and a little plain
// JavaScript, no build step) that updates itself by server-sent events.
//
// # What it shows
//
//   - Members, as gossip sees them (Config.Members: frontend.FrontEnd.
//     Members): id, role, state, zone, load, the clones the map places on
//     each; in a demo, which were crashed, and crash and restart buttons.
//   - The partition map as a grid of partitions × clones (Config.Map):
//     each partition's key range and group, and, from the nodes' reports
//     (Config.Groups), the group's newest view, its sequencer (★), whether
//     it serves, and its load, the updates applied per second. A clone
//     whose node does not report is struck through.
//   - Moves in progress (dispatcher.MovesOf, the admin API's
//     /v1/admin/moves, explained from Config.History), with a bar for a
//     learner's state transfer: its applied position over the voters'.
//   - Recent view changes, with their cause (who left, who joined, a
//     sequencer change) and how long they took.
//   - Per-service calls per second, errors, and p50/p99 latency with
//     sparklines (Config.Stats: raps.Client.ServiceStats).
//
// Everything is observed by sampling every Config.Interval (1 s by
// default): one goroutine reads the sources, derives rates from the
// difference with the previous sample, and sends the snapshot to every
// open page. A view change is not reported by the nodes: it is the view id
// of a group seen to change between samples, its cause the difference
// between the two views' members, its duration from the first sample that
// saw the group disturbed (a member silent, or not serving) to the first
// that saw the new view serving, so it is accurate to one interval; a
// change that began and ended between two samples shows as "≤ interval".
// Latencies are the upper bounds of power-of-two histogram buckets, and
// count the calls of this front end's Router only.
//
// # The caller's duties
//
//   - Set the sources: Config.UseFrontEnd(fe) takes the members, the map,
//     the history and the counters from a front end; the Groups hook is
//     needed for views and sequencers (Config.UseDemo in node.RunDemo's
//     demo; elsewhere, a hook that asks the nodes' /status).
//   - Mount Handler under a prefix with http.StripPrefix, and Close the
//     dashboard on shutdown (it stops the sampler and ends the streams).
//   - Set Config.Demo in a demo only: it lets whoever reaches the page
//     crash nodes. Its POSTs need the DemoHeader, so a cross-site form
//     cannot send them, but the page has no authentication of its own:
//     serve it only where its readers may see (and, in a demo, stop) the
//     cluster.
//   - Each open page holds one event stream, and so one of the front
//     end's request slots (dispatcher.Config.Throttle); Config.MaxClients
//     bounds them. A page that reads slowly skips snapshots (each is the
//     whole state); the sampler never waits for it.
package dashboard
