// Package provider is the storage provider of pointfs and the client that
// talks to it: the libp2p stream protocol "/pointfs/storage/1" (codec in
// provider/wire), the provider's store of sealed replicas, pledges, and
// discovery on a Kademlia DHT (DESIGN §4, §6, §7).
//
// # Identity
//
// Every node, client or provider, has one secp256k1 key (LoadOrCreateKey):
// it is both the libp2p identity and the Ethereum address, so AddressOf
// turns any peer id into the address its pledges or payments carry. The
// provider takes the client's address from the stream's remote peer, never
// from a message.
//
// # Streams and requests
//
// A stream carries any number of request/reply exchanges. The client keeps
// a few idle streams per provider and bounds the requests in flight to it
// (ClientConfig.InFlight); a stream that fails in any way is reset, never
// reused. Requests are idempotent, so when a stream taken from the pool
// turns out dead (the provider closes streams idle for two minutes) the
// request is retried once on a new stream. SendSegments uses one stream for
// one call: it pipelines all Data frames, reads the acks as they come, and
// is never retried by the client; the caller resends what was not acked.
// SendReplica does the same with the SegmentMap before the Data frames and
// the SignatureRequest after them: a whole replica in one round trip, since
// the provider handles a stream's requests in order. The Error refusing an
// incomplete replica comes after every ack the provider sends at all, so
// segments not acked by then never will be, with no timeout to wait for.
//
// A refusal is an Error reply; the client returns it as a *wire.Error,
// which wraps a meta sentinel: Declined → meta.ErrDeclined, NoSpace →
// meta.ErrNoSpace, ECHUNKALREADYSTORED → meta.ErrAlreadyStored, unknown
// link or root → meta.ErrNotFound, malformed → meta.ErrInvalid, too large →
// meta.ErrTooLarge; RequestPledge wraps ErrIncomplete when segments are
// missing. A malformed, oversized or unexpected message is answered with an
// Error and the provider closes that stream; it keeps serving others.
//
// # The store flow, provider side
//
//  1. StoreRequest reserves room for a link (an opaque random id) if the
//     size, expiry and price fit; a reservation whose map does not come
//     within an hour is freed.
//  2. SegmentMap turns the reservation into the replica's record once its
//     hashes rebuild its root (merkle.RootWith under the named hash). A root
//     held complete answers ECHUNKALREADYSTORED: go straight to the pledge.
//  3. Each Data segment is checked against its hash, then written at its
//     offset in the replica's region of a pack file (reserved when the map
//     was accepted) and acked; the last one marks the replica complete. A
//     segment already held is acked again without rewriting.
//  4. SignatureRequest checks that all segments are present, signs the
//     pledge and keeps it with its bill, then makes data, pledge and bill
//     durable with a group commit (one syncfs(2) for every request waiting,
//     so hundreds of chunks per second can be signed) before the pledge goes
//     out; asking again returns the kept pledge, after a sync too.
//
// An ack means the segment is written, not yet synced: only a pledge
// promises durability. A power cut between the two can lose acked segments;
// RequestPledge then reports ErrIncomplete and the client sends the
// segments again.
//
// # Restarts
//
// Replicas, pledges and reservations live in the data dir (regions of pack
// files under packs/, a badger index under index/) and survive a restart.
// A partial upload is resumed, not restarted: the provider keeps its map
// and region, and on the first request that touches it after a restart
// re-hashes the region to learn which segments it holds. The client sends
// the SegmentMap again (answered Ok), then the segments it has no ack for;
// segments the provider already holds are acked without being stored
// twice.
//
// # Discovery
//
// Providers run the DHT in server mode under the "/pointfs" prefix and
// announce themselves under ServiceCID, again every hour. The client runs
// it in client mode; Discover returns the offers of the announced providers
// and of the bootstrap peers, and keeps their addresses for later. On
// loopback and private networks dials prefer TCP, which moves segments
// more than twice as fast as QUIC there.
//
// # Recovery and sharing
//
// A client that knows only its key must be able to find its data again
// (issue #7). Two things make that possible:
//
//   - Locators. A SegmentMap may file its replica under a locator (a
//     secret 32-byte value) with an opaque tag (at most 256 bytes, which the
//     client encrypts); AddTag files a complete replica under more
//     locators (at most 16, only by the client that stored it), e.g. one
//     per share. List and ListAll return, to anyone who knows the locator,
//     the complete replicas filed under it in root order, each with its
//     segment map, expiry, tag and the pledge signed for the client that
//     stored it. The provider indexes locator ‖ root, so a listing costs the
//     entries listed. Releasing or dropping a replica drops its tags. The
//     client trusts none of an entry: the caller checks that the segments
//     rebuild the root, the pledge, and the tag's authentication.
//   - Root records. SignRoot signs (owner, root, seq, time) with the
//     owner's key; Newer orders records (seq, then time, then root).
//     PublishRoot puts a record into the DHT under RootKey(owner) and offers
//     it to every provider; each keeps the newest valid record per owner in
//     its index (an older one is answered ErrStaleRootRecord, a forged one
//     declined). FindRoot asks the DHT and every provider, verifies each
//     answer and returns the newest. Every DHT this package makes validates
//     the "pfsroot" namespace (rootValidator), so forged records are refused
//     by the nodes that would store them too.
package provider
