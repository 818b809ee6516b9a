// Package room is a live chat on Quicksilver, the lecture's "Web 3.0 live
// content" half: each room is a topic, a replicated group's ordered
// stream of updates, and browsers follow it by server-sent events.
//
// The rooms service (Service) is an ordinary raps.Service: hash-
// partitioned by room, in memory, 3 clones per partition, each clone
// keeping its partition's last Retain updates for subscribers. A post is
// an update; a room's history is a strict query, whose token says where
// the history ends; the page then follows the room from that token
// (raps.Client.Subscribe through a raps/fanout Hub, which shares one
// upstream per partition among all the pages this process serves), so it sees every
// message once, in the order every clone applied them, whichever front
// end, clone or reconnect it went through. A crash of the clone a stream
// came from moves the stream to another clone from its last token.
//
// The caller's duties: define Service on the cluster (node.Config.Services
// or raps.Client.DefineService), mount Routes on a front end, and cancel
// the context given to Routes at shutdown.
package room
