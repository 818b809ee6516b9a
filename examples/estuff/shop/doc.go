// Package shop is the eStuff.com shop of the QuickSilver lecture, built
// as two ordinary raps.Services and a Go protocol over a *raps.Client,
// with only the framework's public API.
//
// # Services
//
// "catalog" is range-partitioned by product name, like the lecture's
// "A-C, D-F, …": Services cuts the alphabet into DefaultCatalogRanges (8)
// ranges with partitionmap.SplitRanges(CatalogBounds(8)...). The first
// range starts at the empty key and the last is unbounded, so every key
// has a partition (digits sort into the first, non-ASCII into the last).
// A key is the product's name, normalized by NormalizeName (lower case,
// single spaces). Each partition is a Catalog state machine: products,
// and the reservations (holds) taken from their stock.
//
// "carts" is hash-partitioned by user id (DefaultCartPartitions, 4). Each
// partition is a Carts state machine: per user, the cart's lines and the
// orders (Order) placed from it.
//
// Both default to 3 clones on disk (partitionmap.Disk); WithClones,
// WithCatalogRanges, WithCartPartitions and WithDurability change that.
// Every node lists Services() in raps.Config.Services; one caller defines
// them once with DefineService.
//
// # Ops
//
// Updates and queries are small JSON objects, {"op": "...", ...}, and so
// are the answers, {"status": "ok" | "not_found" | "out_of_stock" |
// "bad_input" | "cancelled" | ..., ...}: a refusal is an answer, because
// Apply cannot fail (every clone must decide the same). JSON of a Go
// struct is the same bytes for the same op, which a retry under the same
// idempotency key needs (the group refuses a key reused for another
// update), and snapshots are JSON of maps, whose keys encoding/json sorts.
//
//	catalog updates: upsert {product}          set every field, stock included
//	                 create {products}         insert those absent (Load's)
//	                 reserve {name, qty, id}   take qty of stock under id, once
//	                 release {name, id}        give id's stock back, once
//	catalog queries: get {name}, list {after, limit}, search {words, limit}
//	carts updates:   add {user, name, qty}, remove {user, name}, clear {user},
//	                 begin / place / fail {user, order, …} (checkout)
//	carts query:     get {user}                the cart and its orders
//
// A reserve never takes stock below zero: with stock < qty it answers
// out_of_stock and changes nothing. Reservations are idempotent in the
// state machine itself, by id, not only by the Router's idempotency keys
// (whose table keeps a bounded window): the same id answers as it did the
// first time, and a release of an id never reserved leaves a tombstone,
// so that a reserve whose outcome was unknown cannot take stock after its
// compensation.
//
// # Checkout
//
// Checkout(ctx, client, user, orderID):
//
//  1. begin: freeze the cart's lines under orderID in the user's cart
//     partition, once (a retry gets the same lines, whatever the cart
//     holds now; an order already placed or failed is answered as such);
//  2. reserve each line at its product's partition, reservation id
//     "order/<id>/line/<i>", idempotency key derived from the same;
//  3. place: pending → placed, recording the total and taking the ordered
//     lines out of the cart, in one update of the cart's partition. If a
//     line was out of stock (or unknown), fail instead: pending → failed,
//     then release every line (each release idempotent), and return
//     ErrOutOfStock (an *OutOfStockError naming the product).
//
// Why it does not oversell: each reserve is one update of the product's
// partition, and every clone applies that partition's updates in one
// total order (G1) and acknowledges it only once stable (G2). Two buyers
// racing for the last camera send two reserves to one group: whichever is
// ordered first takes the stock to 0, the other finds stock < qty and
// answers out_of_stock. No lock, no read-then-write across a hop.
//
// What it is not: atomic across partitions. A multi-product order
// touches several catalog partitions and the cart's, and nothing commits
// them together. The cart's pending → placed / pending → failed
// transition is the order's single decision (one update, in one group, so
// concurrent attempts with the same id agree on it), and the reserves
// before it are compensated by releases when it fails. Between the
// reserves and the decision, another buyer can see the stock taken and be
// refused even though this order later fails: a visible intermediate
// state, the price of compensation instead of a distributed commit.
//
// # The caller's duties
//
//   - Give every checkout an order id (POST /checkout/{user} requires an
//     Idempotency-Key header or an order_id field), and retry with the same
//     id after an error that is not definite (503, 504): a retry resumes
//     the order, never reserves twice. An order abandoned pending holds
//     its stock until a Sweeper (sweep.go; run one per shop) fails it as
//     "abandoned" once it has stayed pending past the Sweeper's grace,
//     and releases its lines.
//   - Mount Routes under a path ending in a slash for the page (the page's
//     links are relative): r.Mount("/shop", shop.Routes(c)) with chi, or
//     mux.Handle("/shop/", http.StripPrefix("/shop", shop.Routes(c))).
//   - Search is a scatter over every catalog partition: an answer with
//     "partial": true lists the "missing" partitions; its hits are the
//     others' only. A search that no partition answered is a 503.
//   - Load (SampleProducts' products, or any) only inserts names that are
//     absent, so reloading on a cluster that kept its data changes nothing.
//   - Adds to a cart with an Idempotency-Key add once per key, product and
//     quantity (the page's add forms carry one, so a resubmitted form adds
//     once); without a key a second add adds again, like a second click.
//     Removes and clears are idempotent as they are.
package shop
