// Holding a database's write lock from outside the library, so that the
// library's writes queue behind it: the way the group-commit tests make
// concurrent callers share one batch without relying on luck.
//
// SQLite: a raw connection holds BEGIN IMMEDIATE (the file's write lock);
// the library's next writer waits for it in its busy handler. PostgreSQL: a
// raw connection holds an exclusive lock on the users table, which every
// quota operation reads; the library's calls wait on the server.
#pragma once

#include "support/fixtures.hpp"

#include <functional>
#include <memory>
#include <vector>

namespace kauri_quota::testing {

class held_write_lock {
 public:
  /// Takes the lock on `db`; fails the test when it cannot.
  explicit held_write_lock(const test_db& db);
  held_write_lock(const held_write_lock&) = delete;
  held_write_lock& operator=(const held_write_lock&) = delete;
  ~held_write_lock();
  /// Lets the waiting writers go (once).
  void release();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Runs `first` on a thread of its own and, once it waits for the lock
/// held on `db`, each of `others` on a thread of its own, so that they
/// queue behind it; calls `while_queued` (when set), releases the lock and
/// joins every thread. `first` then runs alone and `others` together in
/// the next batch.
void queue_behind_held_lock(const test_db& db, const std::function<void()>& first,
                            const std::vector<std::function<void()>>& others,
                            const std::function<void()>& while_queued = {});

}  // namespace kauri_quota::testing
