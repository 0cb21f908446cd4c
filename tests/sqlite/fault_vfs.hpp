// A fault-injecting SQLite VFS for the I/O-fault tests.
//
// It wraps the VFS that is the default when it is installed (the unix VFS)
// and registers itself as the new default, so every connection opened
// afterwards in this process — the library's own included — does its file
// I/O through it without any change to the library. Each file it opens gets
// wrapped I/O methods that count reads, writes, syncs, locks and
// truncations and can be told to fail the Nth of one kind, once (transient)
// or from then on (persistent), or to report a full disk.
//
// Locks: in WAL mode a connection keeps its shared lock on the database
// file between transactions and takes its read and write locks in the
// shared-memory index (xShmLock), so "lock" covers both xLock and the
// lock (not unlock) requests of xShmLock.
//
// Thread safety: every member may be called from any thread; the counters
// are process-wide, so count only while nothing else uses SQLite.
#pragma once

#include <cstdint>

namespace kauri_quota::testing {

/// Which operation a fault hits.
enum class fault_kind {
  write,      ///< xWrite fails with SQLITE_IOERR_WRITE
  sync,       ///< xSync fails with SQLITE_IOERR_FSYNC
  lock,       ///< xLock / xShmLock fail (see lock_failure)
  full_disk,  ///< xWrite fails with SQLITE_FULL
  truncate,   ///< xTruncate fails with SQLITE_IOERR_TRUNCATE
  read,       ///< xRead fails with SQLITE_IOERR_READ
};

/// How long a fault lasts once it fires.
enum class fault_mode {
  transient,   ///< only the Nth operation fails; later ones work
  persistent,  ///< the Nth operation and every later one fail until disarm()
};

/// What a lock fault reports.
enum class lock_failure {
  busy,      ///< SQLITE_BUSY (another process holds the lock)
  io_error,  ///< SQLITE_IOERR_LOCK (xLock) / SQLITE_IOERR_SHMLOCK (xShmLock)
};

const char* to_string(fault_kind k) noexcept;
const char* to_string(fault_mode m) noexcept;
const char* to_string(lock_failure f) noexcept;

/// Operations seen since the last reset_counts(), over every file.
struct io_counts {
  std::int64_t writes = 0;
  std::int64_t syncs = 0;
  std::int64_t file_locks = 0;  ///< xLock calls
  std::int64_t shm_locks = 0;   ///< xShmLock lock requests
  std::int64_t truncates = 0;
  std::int64_t reads = 0;

  std::int64_t locks() const noexcept { return file_locks + shm_locks; }
  /// The number of operations a fault of `k` counts.
  std::int64_t of(fault_kind k) const noexcept;
};

/// The process-wide fault-injecting VFS (a singleton: SQLite's VFS list is
/// process-wide too).
class fault_vfs {
 public:
  /// Registers the VFS as SQLite's default on the first call (connections
  /// opened earlier keep their VFS); returns it. Fails the test when SQLite
  /// refuses.
  static fault_vfs& install();

  /// Fails the `n`th operation (1-based, counted from now) of `kind`; a
  /// persistent fault also fails every later one until disarm(). Replaces
  /// any fault armed before.
  void arm(fault_kind kind, std::int64_t n, fault_mode mode, lock_failure how = lock_failure::busy);
  /// Lets every operation through again.
  void disarm();
  /// How many operations failed since the last arm().
  std::int64_t fired() const;

  io_counts counts() const;
  void reset_counts();

  /// When on, xSleep returns at once (reporting the time asked for as
  /// slept), so that busy handlers and SQLite's own lock retries run out of
  /// time instantly instead of waiting for the real busy timeout.
  void skip_sleeps(bool on);

  fault_vfs(const fault_vfs&) = delete;
  fault_vfs& operator=(const fault_vfs&) = delete;

 private:
  fault_vfs() = default;
};

/// The installed VFS for the length of a scope: on destruction it disarms
/// any fault and turns sleep skipping off, so that a failed test leaves no
/// fault behind for the next one.
class fault_guard {
 public:
  fault_guard() : vfs_(fault_vfs::install()) {}
  fault_guard(const fault_guard&) = delete;
  fault_guard& operator=(const fault_guard&) = delete;
  ~fault_guard() {
    vfs_.disarm();
    vfs_.skip_sleeps(false);
  }
  fault_vfs& operator*() const noexcept { return vfs_; }
  fault_vfs* operator->() const noexcept { return &vfs_; }

 private:
  fault_vfs& vfs_;
};

}  // namespace kauri_quota::testing
