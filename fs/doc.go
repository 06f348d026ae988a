// Package fs is the pointfs mount (DESIGN §9): a bazil.org/fuse file
// system whose tree lives in the meta.Store and whose file contents live in
// the storage engine, with a local spool for files being written.
//
// # Tree
//
// Nodes are keyed by inode (meta.Node, one record per inode; directory
// entries map (parent, name) to an inode). There is one node object per
// inode, so Lookup returns the same pointer every time and a file that is
// open when it is unlinked or renamed over keeps working through its
// handles (fstat shows nlink 0). Inode numbers are never reused. Attributes
// are served from the node (no store round trip), and the kernel may cache
// them and directory entries for a minute: every change goes through this
// mount, so the kernel always knows. Hard links, symlinks, FIFOs and
// sockets are supported; device nodes are not (EPERM).
//
// # Write path
//
// A file being written has a spool file (SPOOL/<inode>, opened read-write:
// with the writeback cache the kernel may read through a write-only
// descriptor). Before the first change the node record says "spooled"; at
// each close() its size and times are recorded, so once close() returned a
// SIGKILL of the daemon loses nothing: at the next mount every spool file
// whose node says "spooled" is put again. Writing to a file that is only
// on the network first copies it into the spool (not when it is truncated
// to zero). When the last writable descriptor is released (not at every
// flush), the node is queued for a put; a few workers (Config.UploadWorkers)
// stream the spool file into the engine, never on a FUSE request path, once
// the writes pause (Config.UploadQuiet; at most Config.UploadHold after the
// release), so that uploads do not slow down the copy still going on (the
// engine, told of every write through Config.OnWrite, starts no new upload
// meanwhile either). When
// the put returns, the node points at the new file id, the previous id's
// reference is handed back to the engine (through a release list kept in
// the store with the change that made it due), and the spool copy goes
// once no descriptor uses it (emptied into SPOOL/free, where the next new
// file takes it: a create then allocates no inode). (If the file changed while it was being put,
// the node still takes that version, as a durable fallback, stays
// spooled, and the newest content is put next.) Reads come from the spool
// while it holds the
// newest content, else from the engine (its chunk cache, else the
// providers). A spool that fills up gives ENOSPC to the writer (at write,
// fsync or close: with the writeback cache the kernel sends data late);
// files closed before are untouched.
//
// # Extended attributes
//
// Namespace user.point. (getfattr -d -m point FILE):
//
//	id           the file id (64 hex), empty while the newest content is only in the spool
//	merkle_root  root of the chunk Merkle tree (empty while in the spool)
//	status       created | uploading | uploaded | failed ("created" while only in the spool)
//	size         bytes
//	chunks       "uploaded U/T": distinct chunks (the chunkinfo included) durable of all
//	chunk.<n>    first line "STATE DURABLE/REDUNDANCY CHUNKID", then one line per
//	             storage link: "PROVIDER STATE [pledge expiry | (failure reason)]"
//	redundancy   providers per chunk      (settable: setfattr -n user.point.redundancy -v 5 F)
//	expires      RFC 3339 pledge expiry   (settable: RFC 3339, YYYY-MM-DD, unix seconds, +30d)
//	autorenew    true | false             (settable: true/false/1/0/yes/no/on/off)
//	cost         wei paid to providers for the current version (0 while in the spool)
//
// On a directory: status (aggregated over the subtree: failed if any file
// failed, uploaded if all are, uploading while any is, else created; on
// the root, with snapshots, uploading also while the tree has changes not
// yet published), pending ("files=F chunks=C bytes=B" not yet durable in
// the subtree), id (the directory's id in the last snapshot published;
// ENODATA before the first), on the root seq (the last published sequence
// number), and redundancy, expires, autorenew, which files created in the
// directory afterwards inherit. Setting a policy attribute on a file applies it to
// the node (and so to its next versions) and to its current version
// through the engine; raising redundancy makes the engine add links until
// that many are signed. Files of identical content share one file id, and
// so its policy. The names listed depend on the file's size only (the
// same before and after the upload); chunk.<n> is listed for the first 64
// chunks and readable for all. An unknown name in the namespace answers
// ENODATA ("No such attribute"), never EIO; the computed names cannot be
// set or removed (ENOTSUP, which cp -a and rsync -X skip quietly). Other
// user.*, trusted.* and security.* attributes are stored on the node;
// system.* (ACLs) are not supported.
//
// # The tree on the network
//
// With Config.PublishRoot set, the tree lives on the network too (issue
// #7): a few seconds after the last change (Config.SnapshotDelay, at most
// ten times that after the first), the FS stores every directory as a
// directory chunkinfo (DESIGN §2), put through the engine as a file named
// ".pointfs-dir" (so a directory's id is the file id of those bytes),
// waits until they are uploaded, and publishes the root's id with the next
// sequence number. Only directories whose bytes changed are put again;
// the versions a new snapshot no longer uses are released once it is
// published. Entries carry pointfs's optional mode, mtime, symlink
// target and storage policy (meta/chunkinfo). A snapshot holds regular files (their last
// version put), directories and symlinks; files never put yet appear in a
// later snapshot, FIFOs and sockets never. FS.Snapshot takes one on
// demand, FS.DirID finds a directory's id in it, and Close tries a last
// one. See snapshot.go.
//
// Restore recreates a published tree in an empty store (resumable after a
// crash), adopting every file it names into the engine; Config.ReadOnly
// serves a tree without changing it (EROFS for every change, a read-only
// mount, no puts, no snapshots).
//
// # Mount options
//
// MaxReadahead 128 KiB, the writeback cache, HandleKillPriv (no GETXATTR of
// security.capability per write; suid/sgid are cleared here on write,
// truncate and chown as the kernel asks), async reads, default_permissions
// (the kernel checks modes), FSName and subtype "pointfs". FUSE interrupts
// are ignored (answering EINTR to an open that would have finished in
// microseconds breaks callers; the Go runtime's own signals cause them).
// Run as root, Mount raises the mount's share of the kernel's dirty-page
// limit from FUSE's 1% to half (/sys/class/bdi/MAJ:MIN/max_ratio), so that
// large writes do not stall each time it holds 1% of that limit (48 MB on
// a 24 GB machine; bdi.go).
//
// # Use
//
//	pointfs mount [--data DIR] [--foreground] [--spool DIR] MOUNTPOINT
//	pointfs unmount [--lazy] MOUNTPOINT      (umount and fusermount3 -u are as safe)
//
// As a mount helper, with /sbin/mount.fuse.pointfs a link to the binary,
// an /etc/fstab line (the "device" is the data dir):
//
//	/var/lib/pointfs  /mnt/point  fuse.pointfs  defaults,_netdev,allow_other,spool=/var/cache/pointfs  0  0
//
// # Known limitations
//
//   - go-fuse posixtest: every check passes except FcntlFlockLocksFile,
//     which expects a second descriptor of the same process to conflict
//     with a POSIX record lock. Such locks belong to the process: the
//     kernel keeps the locks of this mount (as for ext4 or tmpfs) and lets
//     the process take it; go-fuse's own run skips this check. Tmpfile
//     (O_TMPFILE) is skipped by posixtest itself: bazil has no TMPFILE
//     operation.
//   - The sticky bit is not reported: bazil's attribute encoding drops it
//     (chmod +t is stored, stat does not show it).
//   - fsync makes data durable on the local disk (spool and metadata), not
//     on the network; user.point.status says when a file is durable there.
//   - Writing to a file that is only on the network copies the whole file
//     into the spool on the first write (no block-level copy-on-write), so
//     the first write to a large file waits for that copy.
//   - The spool directory is the index of pending puts: if it is lost (a
//     tmpfs after a reboot), files whose newest content was only there fall
//     back to their last version put (or become empty if none), with an
//     error in the log.
//   - A crash in the millisecond between a put returning and the node
//     recording the new id, or between a release leaving the release list
//     and the engine's Release, leaks one reference to a file version
//     (its pledges then last until they expire or are renewed). Closing
//     that gap needs an idempotent Release in the engine.
//   - Nodes leave the in-memory cache when the kernel forgets them; a
//     node looked up in the last 5 seconds stays, so that a Lookup racing
//     a Forget never gives an inode two node objects.
//   - Unmounting cancels puts in progress; their files stay spooled and
//     are put again at the next mount.
//   - Snapshots keep names, types, sizes, file ids, modes (permissions,
//     set-user-id, set-group-id, sticky), mtimes, symlink targets and the
//     policies of files and directories (user.point.redundancy, expires,
//     autorenew; the root's comes back as the defaults); not owners,
//     other times, other extended attributes or hard links (a restored
//     hard link is two files). A mode
//     or mtime of exactly zero is not recorded (the format writes the
//     optional keys only when not zero) and comes back as 0644/0755 and
//     the restore time. Names and symlink targets that are not valid
//     UTF-8 cannot be represented and are left out (logged once). A file
//     whose newest content is still in the spool appears as its last
//     version put, with its current mtime.
//   - A snapshot reads the whole tree from the store (one read
//     transaction) and encodes every directory, even though only the
//     changed ones are put: about 0.5 s per 100,000 entries here.
//   - ls -l costs three FUSE round trips per entry (LOOKUP, and GETXATTR of
//     security.selinux and system.posix_acl_access, which the kernel does
//     not cache): about 1.3 s warm, 2-3 s cold for 10,000 entries here.
package fs
