// I/O faults inside a consume transaction on SQLite. A fault-injecting VFS
// (registered as the process's default, so the library's own connections
// use it) fails the Nth read, write, sync, lock or truncate of one
// try_consume, once or from then on, or reports a full disk, for every N the
// consume performs. Each time: the call returns (an error or a decision; no
// crash, no exception), the change is applied entirely or not at all, both
// in the live database and in a copy of its files taken at that moment
// (what a crash would leave), the database passes PRAGMA integrity_check, a
// retry with the same request_id counts exactly once, and the next call
// succeeds.
//
// Three situations are swept (see wal_shape): a warm connection whose
// commit appends to the WAL; the same after another process committed, so
// that the consume rereads pages in the middle of its transaction; and a
// connection that checkpoints after every commit, so that the commit also
// restarts the WAL and writes, syncs and truncates the database file.
#include "sqlite/fault_vfs.hpp"
#include "sqlite/raw_sqlite.hpp"
#include "support/fixtures.hpp"
#include "support/write_lock.hpp"

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

using namespace kauri_quota;
using namespace kauri_quota::testing;

namespace {

/// The one user of every bench; the raw SQL below spells it out.
constexpr std::string_view user_name = "fault-user";
constexpr std::int64_t tokens_per_call = 7;

// --- What is on disk ---------------------------------------------------------------

/// The user's state as the files hold it, read with a raw connection.
struct disk_state {
  std::string integrity;
  std::int64_t messages = 0;   ///< messages_today (the tests stay on one day)
  std::int64_t tokens = 0;     ///< tokens_today
  std::int64_t sent_rows = 0;  ///< message_sent audit rows
  std::int64_t keys = 0;       ///< idempotency keys
};

disk_state read_disk(const std::filesystem::path& file) {
  raw_sqlite db(file);
  // This connection only reads; when it closes the last connection to a
  // crash copy, its checkpoint need not wait for the disk.
  db.exec("PRAGMA synchronous = OFF");
  disk_state s;
  s.integrity = db.text("PRAGMA integrity_check").value_or("(null)");
  s.messages = db.integer("SELECT COALESCE(SUM(messages_today), 0) FROM user_usage WHERE user_id = 'fault-user'");
  s.tokens = db.integer("SELECT COALESCE(SUM(tokens_today), 0) FROM user_usage WHERE user_id = 'fault-user'");
  s.sent_rows =
      db.integer("SELECT count(*) FROM usage_logs WHERE user_id = 'fault-user' AND event_type = 'message_sent'");
  s.keys = db.integer("SELECT count(*) FROM kauri_quota_idempotency_keys WHERE user_id = 'fault-user'");
  return s;
}

/// Copies the database file and its WAL (not the shared-memory index, which
/// a crash loses) into `dir` and reads the copy: what a crash at this moment
/// would leave behind, after SQLite's recovery.
disk_state read_crash_image(const std::filesystem::path& file, const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  const fs::path image = dir / "image.db";
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(image.string() + suffix);
  fs::copy_file(file, image);
  const fs::path wal = file.string() + "-wal";
  if (fs::exists(wal)) fs::copy_file(wal, image.string() + "-wal");
  return read_disk(image);
}

// --- Faults and their tally -------------------------------------------------------

/// One kind of fault as the sweeps inject it.
struct fault_case {
  fault_kind kind;
  lock_failure how;
  const char* name;
};

constexpr fault_case write_fault{fault_kind::write, lock_failure::busy, "write"};
constexpr fault_case sync_fault{fault_kind::sync, lock_failure::busy, "sync"};
constexpr fault_case busy_lock_fault{fault_kind::lock, lock_failure::busy, "lock (SQLITE_BUSY)"};
constexpr fault_case failing_lock_fault{fault_kind::lock, lock_failure::io_error, "lock (SQLITE_IOERR_*LOCK)"};
constexpr fault_case full_disk_fault{fault_kind::full_disk, lock_failure::busy, "full disk"};
constexpr fault_case truncate_fault{fault_kind::truncate, lock_failure::busy, "truncate"};
constexpr fault_case read_fault{fault_kind::read, lock_failure::busy, "read"};

/// The error codes a fault of `c` may surface as.
std::set<errc> expected_codes(const fault_case& c) {
  if (c.kind == fault_kind::lock && c.how == lock_failure::busy) {
    // Busy past busy_timeout; SQLite reports a WAL read lock it could not
    // get after its own retries as SQLITE_PROTOCOL (an I/O error).
    return {errc::storage_busy, errc::io_error};
  }
  return {errc::io_error};
}

/// The situation a consume runs in.
enum class wal_shape {
  /// One warm connection; the commit appends to the WAL (the automatic
  /// checkpoint is far away). All its I/O happens at BEGIN and COMMIT.
  appending,
  /// As appending, but another process committed since the last call: the
  /// consume rereads pages in the middle of its transaction.
  after_other_writer,
  /// The connection checkpoints after every commit: the commit restarts
  /// the WAL, then copies it into the database file, syncs and truncates it.
  checkpoint_every_commit,
};

constexpr wal_shape all_shapes[] = {wal_shape::appending, wal_shape::after_other_writer,
                                    wal_shape::checkpoint_every_commit};

std::string to_string(wal_shape s) {
  switch (s) {
    case wal_shape::appending:
      return "appending WAL";
    case wal_shape::after_other_writer:
      return "after another process's commit";
    case wal_shape::checkpoint_every_commit:
      return "checkpoint after every commit";
  }
  return "?";
}

/// What a sweep saw.
struct tally {
  int cases = 0;
  int fired = 0;                     ///< cases where the fault hit an operation
  int succeeded = 0;                 ///< the call answered despite the fault (SQLite retried or the fault was benign)
  int failed = 0;                    ///< the call returned an error
  int failed_applied = 0;            ///< ... although its change was committed
  int crash_applied = 0;             ///< a crash at that moment would have kept a change the live database did not
  std::map<std::string, int> codes;  ///< error code name -> count
  std::set<std::string> messages;    ///< the distinct error messages

  tally& operator+=(const tally& o) {
    cases += o.cases;
    fired += o.fired;
    succeeded += o.succeeded;
    failed += o.failed;
    failed_applied += o.failed_applied;
    crash_applied += o.crash_applied;
    for (const auto& [k, v] : o.codes) codes[k] += v;
    messages.insert(o.messages.begin(), o.messages.end());
    return *this;
  }

  std::string summary() const {
    std::ostringstream out;
    out << cases << " cases, fault fired in " << fired << "; call succeeded " << succeeded << ", failed " << failed
        << " (applied anyway: " << failed_applied << ")";
    if (!codes.empty()) {
      out << " [";
      bool first = true;
      for (const auto& [k, v] : codes) {
        out << (first ? "" : ", ") << k << " " << v;
        first = false;
      }
      out << "]";
    }
    out << "; crash copy kept a change the live database did not: " << crash_applied;
    return out.str();
  }
};

// --- The bench ---------------------------------------------------------------------

// The connections opened while a connection_recorder lives. SQLite sets a
// new connection's auto-checkpoint after running the auto-extensions, so
// the recorder only notes the handles and the setting is changed once the
// storage is open.
std::vector<sqlite3*> recorded_connections;

int record_connection(sqlite3* db, const char**, const sqlite3_api_routines*) {
  recorded_connections.push_back(db);
  return SQLITE_OK;
}

class connection_recorder {
 public:
  connection_recorder() {
    recorded_connections.clear();
    // void (*)(void) is the generic function pointer type SQLite asks for.
    sqlite3_auto_extension(reinterpret_cast<void (*)(void)>(record_connection));
  }
  connection_recorder(const connection_recorder&) = delete;
  connection_recorder& operator=(const connection_recorder&) = delete;
  ~connection_recorder() {
    sqlite3_cancel_auto_extension(reinterpret_cast<void (*)(void)>(record_connection));
    recorded_connections.clear();
  }
  const std::vector<sqlite3*>& connections() const { return recorded_connections; }
};

test_db open_database(wal_shape shape) {
  test_db_options opts;
  opts.open.pool_size = 1;  // one connection: every call sees what the last one left
  if (shape != wal_shape::checkpoint_every_commit) return make_test_db("sqlite", opts);
  connection_recorder recorder;
  test_db db = make_test_db("sqlite", opts);
  // The storage is idle and its one connection open: make that connection
  // checkpoint after every commit.
  REQUIRE(recorder.connections().size() == 1);
  for (sqlite3* c : recorder.connections()) sqlite3_wal_autocheckpoint(c, 1);
  return db;
}

/// A fresh migrated database (one pooled connection) behind the fault VFS,
/// with one user whose limits are far away, after one warm-up consume.
class fault_bench {
 public:
  explicit fault_bench(wal_shape shape) : shape_(shape), fx_(open_database(shape)), user_(fx_.add_user(user_name)) {
    fx_.set_limits("free", 1'000'000, 10'000'000, 1'000'000'000);
    // Busy handlers and SQLite's lock retries would otherwise wait out the
    // real busy timeout on every persistent lock fault.
    vfs_->skip_sleeps(true);
    must(fx_.svc.try_consume(user_, tokens_per_call, with_request_id(next_request_id())));
  }

  /// What the files hold before a call, once the situation of the shape is
  /// set up: another connection has just read the database (which decides
  /// whether the next transaction must move a WAL read mark, one more
  /// shared-memory lock), and, after_other_writer, committed a change.
  disk_state prepare() {
    const disk_state before = read_disk(fx_.db.file);
    REQUIRE(before.integrity == "ok");
    if (shape_ == wal_shape::after_other_writer) {
      raw_sqlite other(fx_.db.file);
      other.exec("PRAGMA synchronous = OFF");
      other.exec("UPDATE subscription_tiers SET price_fcfa = price_fcfa + 1 WHERE tier_id = 'max'");
    }
    return before;
  }

  /// The operations one try_consume performs, counted by the VFS.
  io_counts count_one_consume(bool with_id) {
    prepare();
    vfs_->reset_counts();
    const request_context ctx = with_id ? with_request_id(next_request_id()) : request_context{};
    const decision d = must(fx_.svc.try_consume(user_, tokens_per_call, ctx));
    const io_counts c = vfs_->counts();
    CHECK(d.allowed);
    return c;
  }

  /// Arms `fault` on the nth operation of its kind, consumes, and checks
  /// everything the fault must not break. Adds the outcome to `t`.
  void run_case(const fault_case& fault, fault_mode mode, std::int64_t n, bool with_id, tally& t) {
    INFO("fault: " << std::string(fault.name) << ", " << std::string(to_string(mode)) << ", on operation " << n
                   << std::string(with_id ? ", with a request_id" : ", without a request_id"));
    ++t.cases;
    const disk_state before = prepare();
    const request_context ctx = with_id ? with_request_id(next_request_id()) : request_context{};

    vfs_->arm(fault.kind, n, mode, fault.how);
    std::optional<result<decision>> got;
    try {
      got.emplace(fx_.svc.try_consume(user_, tokens_per_call, ctx));
    } catch (const std::exception& e) {
      vfs_->disarm();
      FAIL("try_consume let an exception escape: " << e.what());
    } catch (...) {
      vfs_->disarm();
      FAIL("try_consume let an exception of unknown type escape");
    }
    const std::int64_t fired = vfs_->fired();
    vfs_->disarm();
    const result<decision>& r = *got;
    if (fired > 0) ++t.fired;

    // The live database: intact, and the change all there or not at all.
    const disk_state after = read_disk(fx_.db.file);
    CHECK(after.integrity == "ok");
    const std::int64_t delta = after.messages - before.messages;
    CHECK_MESSAGE((delta == 0 || delta == 1), "messages_today moved by " << delta);
    const bool applied = delta == 1;
    CHECK(after.tokens - before.tokens == delta * tokens_per_call);
    CHECK(after.sent_rows - before.sent_rows == delta);
    CHECK(after.keys - before.keys == (with_id ? delta : 0));

    if (r.has_value()) {
      ++t.succeeded;
      CHECK_MESSAGE(applied, "the call answered allowed but nothing was counted");
      CHECK(r.value().allowed);
      CHECK_FALSE(r.value().replayed);
    } else {
      ++t.failed;
      if (applied) ++t.failed_applied;
      const error& e = r.error();
      ++t.codes[e.code.category() == quota_category() ? to_string(static_cast<errc>(e.code.value()))
                                                      : e.code.message()];
      t.messages.insert(e.message);
      CHECK_MESSAGE(fired > 0, "the call failed without an injected fault: " << describe(e));
      CHECK_MESSAGE(e.code.category() == quota_category(), describe(e));
      bool expected = false;
      for (errc c : expected_codes(fault)) expected = expected || e.is(c);
      CHECK_MESSAGE(expected, "unexpected error " << describe(e));
      CHECK_FALSE(e.message.empty());
    }

    // What a crash now would leave: intact, atomic, and never less than
    // what the live database acknowledged.
    const disk_state image = read_crash_image(fx_.db.file, images_.path());
    CHECK(image.integrity == "ok");
    const std::int64_t image_delta = image.messages - before.messages;
    CHECK_MESSAGE((image_delta == 0 || image_delta == 1), "a crash copy moved messages_today by " << image_delta);
    CHECK(image.tokens - before.tokens == image_delta * tokens_per_call);
    CHECK(image.sent_rows - before.sent_rows == image_delta);
    CHECK(image.keys - before.keys == (with_id ? image_delta : 0));
    CHECK_MESSAGE(image_delta >= delta, "a committed change is missing from the files");
    if (image_delta != delta) ++t.crash_applied;

    // The library itself reads the same state, and its audit adds up.
    CHECK(fx_.today_usage(user_).messages_today == after.messages);
    fx_.check_audit(user_);

    // A retry with the same request_id counts exactly once in all.
    if (with_id) {
      const decision again = must(fx_.svc.try_consume(user_, tokens_per_call, ctx));
      CHECK(again.allowed);
      CHECK_MESSAGE(again.replayed == applied, "retry replayed=" << again.replayed << " but applied=" << applied);
      CHECK(fx_.today_usage(user_).messages_today == before.messages + 1);
      // ... also in what a crash would now leave, whatever the first try left there.
      const disk_state settled = read_crash_image(fx_.db.file, images_.path());
      CHECK(settled.integrity == "ok");
      CHECK(settled.messages == before.messages + 1);
      CHECK(settled.keys == before.keys + 1);
    }

    // And the next call, once the fault has cleared, just works.
    const std::int64_t expected_before_next = fx_.today_usage(user_).messages_today;
    const decision next = must(fx_.svc.try_consume(user_, tokens_per_call, with_request_id(next_request_id())));
    CHECK(next.allowed);
    CHECK_FALSE(next.replayed);
    CHECK(fx_.today_usage(user_).messages_today == expected_before_next + 1);
  }

  service_fixture& fixture() { return fx_; }
  const user_id& user() const { return user_; }
  fault_vfs& vfs() { return *vfs_; }
  std::string next_request_id() { return "req-" + std::to_string(++serial_); }

 private:
  fault_guard vfs_;  // first: the VFS is the default before the database opens
  wal_shape shape_;
  service_fixture fx_;
  temp_dir images_;
  user_id user_;
  int serial_ = 0;
};

/// Every N from 1 to the number of operations of `fault`'s kind one consume
/// performs, transient and persistent, on a fresh bench.
tally sweep(const fault_case& fault, wal_shape shape, bool with_id) {
  INFO("sweep over " << to_string(shape));
  fault_bench bench(shape);
  const std::int64_t count = bench.count_one_consume(with_id).of(fault.kind);
  tally t;
  for (fault_mode mode : {fault_mode::transient, fault_mode::persistent}) {
    for (std::int64_t n = 1; n <= count; ++n) bench.run_case(fault, mode, n, with_id, t);
  }
  return t;
}

/// Sweeps `fault` over every shape with a request_id (retried after every
/// failure), and over the plain appending shape without one, and reports
/// the tally.
void sweep_all(const fault_case& fault) {
  tally total;
  std::ostringstream detail;
  for (wal_shape shape : all_shapes) {
    for (bool with_id : {true, false}) {
      if (!with_id && shape != wal_shape::appending) continue;
      const tally t = sweep(fault, shape, with_id);
      detail << "\n  " << to_string(shape) << (with_id ? ", with request_id: " : ", without request_id: ")
             << t.summary();
      total += t;
    }
  }
  for (const auto& m : total.messages) detail << "\n  error message seen: " << m;
  MESSAGE(std::string(fault.name) << " faults: " << total.summary() << detail.str());
  CHECK(total.fired == total.cases);
}

}  // namespace

TEST_CASE("one consume performs a known, repeatable number of reads, writes, syncs and locks") {
  for (wal_shape shape : all_shapes) {
    INFO(to_string(shape));
    fault_bench bench(shape);
    for (bool with_id : {true, false}) {
      const io_counts first = bench.count_one_consume(with_id);
      const io_counts second = bench.count_one_consume(with_id);
      MESSAGE(to_string(shape) << std::string(with_id ? ", with request_id" : ", without request_id") << ": reads "
                               << first.reads << ", writes " << first.writes << ", syncs " << first.syncs << ", locks "
                               << first.locks() << " (" << first.file_locks << " xLock, " << first.shm_locks
                               << " xShmLock), truncates " << first.truncates);
      CHECK(first.writes > 0);
      CHECK(first.syncs > 0);  // synchronous = FULL: the commit is synced
      CHECK(first.locks() > 0);
      if (shape == wal_shape::after_other_writer) CHECK(first.reads > 0);
      CHECK(second.reads == first.reads);
      CHECK(second.writes == first.writes);
      CHECK(second.syncs == first.syncs);
      CHECK(second.locks() == first.locks());
      CHECK(second.truncates == first.truncates);
    }
  }
}

TEST_CASE("a failed write at any point of a consume leaves the change all there or not at all") {
  sweep_all(write_fault);
}

TEST_CASE("a failed sync at any point of a consume leaves the change all there or not at all") {
  sweep_all(sync_fault);
}

TEST_CASE("a busy lock at any point of a consume leaves the change all there or not at all") {
  sweep_all(busy_lock_fault);
}

TEST_CASE("a failing lock at any point of a consume leaves the change all there or not at all") {
  sweep_all(failing_lock_fault);
}

TEST_CASE("a full disk at any write of a consume leaves the change all there or not at all") {
  sweep_all(full_disk_fault);
}

TEST_CASE("a failed truncate during a consume's checkpoint leaves the change all there or not at all") {
  sweep_all(truncate_fault);
}

TEST_CASE("a failed read in the middle of a consume leaves the change all there or not at all") {
  sweep_all(read_fault);
}

TEST_CASE("a disk that stays full fails every write with io_error and changes nothing until space returns") {
  for (wal_shape shape : {wal_shape::appending, wal_shape::checkpoint_every_commit}) {
    INFO(to_string(shape));
    fault_bench bench(shape);
    service_fixture& fx = bench.fixture();
    const user_id& user = bench.user();
    const disk_state before = read_disk(fx.db.file);
    const usage usage_before = fx.today_usage(user);

    bench.vfs().arm(fault_kind::full_disk, 1, fault_mode::persistent);
    std::vector<request_context> refused;
    for (int i = 0; i < 5; ++i) {
      refused.push_back(with_request_id(bench.next_request_id()));
      check_error(fx.svc.try_consume(user, tokens_per_call, refused.back()), errc::io_error);
      check_error(fx.svc.try_consume(user, tokens_per_call), errc::io_error);
      check_error(fx.svc.reserve(user, tokens_per_call), errc::io_error);
      check_error(fx.svc.increment_usage(user, 1, tokens_per_call), errc::io_error);
    }
    // Reading needs no space: quota information is still answered, unchanged.
    const auto info = fx.svc.get_user_quota_info(user);
    REQUIRE_MESSAGE(info.has_value(), "reading while the disk is full failed: " << describe(info.error()));
    CHECK(info.value().messages_today == usage_before.messages_today);
    CHECK(bench.vfs().fired() > 0);
    bench.vfs().disarm();

    const disk_state after = read_disk(fx.db.file);
    CHECK(after.integrity == "ok");
    CHECK(after.messages == before.messages);
    CHECK(after.tokens == before.tokens);
    CHECK(after.sent_rows == before.sent_rows);
    CHECK(after.keys == before.keys);
    CHECK(fx.today_usage(user) == usage_before);
    fx.check_audit(user);

    // Space is back: the refused requests count once each when retried, and
    // new ones work.
    for (const auto& ctx : refused) {
      const decision d = must(fx.svc.try_consume(user, tokens_per_call, ctx));
      CHECK(d.allowed);
      CHECK_FALSE(d.replayed);
    }
    for (const auto& ctx : refused) CHECK(must(fx.svc.try_consume(user, tokens_per_call, ctx)).replayed);
    CHECK(must(fx.svc.try_consume(user, tokens_per_call)).allowed);
    CHECK(fx.today_usage(user).messages_today == usage_before.messages_today + 6);
    CHECK(read_disk(fx.db.file).integrity == "ok");
    fx.check_audit(user);
  }
}

TEST_CASE("a writer holding the lock past busy_timeout makes consume fail with storage_busy and change nothing") {
  // The bench skips SQLite's sleeps, so the 10 s busy timeout runs out at once.
  fault_bench bench(wal_shape::appending);
  service_fixture& fx = bench.fixture();
  const user_id& user = bench.user();
  const usage usage_before = fx.today_usage(user);
  const request_context ctx = with_request_id(bench.next_request_id());
  {
    raw_sqlite other(fx.db.file);
    other.exec("BEGIN IMMEDIATE");
    check_error(fx.svc.try_consume(user, tokens_per_call, ctx), errc::storage_busy);
    check_error(fx.svc.try_consume(user, tokens_per_call), errc::storage_busy);
    // Readers are not blocked by a writer in WAL mode.
    CHECK(fx.today_usage(user) == usage_before);
    other.exec("ROLLBACK");
  }
  const decision d = must(fx.svc.try_consume(user, tokens_per_call, ctx));
  CHECK(d.allowed);
  CHECK_FALSE(d.replayed);
  CHECK(fx.today_usage(user).messages_today == usage_before.messages_today + 1);
  fx.check_audit(user);
}

// --- Group commit ------------------------------------------------------------------

namespace {

/// Consumes that share one transaction: queued behind a held write lock
/// (support/write_lock.hpp), the first commits alone and the others run
/// together in the next batch, each in its own savepoint, with one commit.
class batch_bench {
 public:
  static constexpr int callers = 5;

  batch_bench() : fx_(make_test_db("sqlite")) { fx_.set_limits("free", 1'000'000, 10'000'000, 1'000'000'000); }

  /// Runs one round: fresh users, one consume each with its own request_id,
  /// `arm` called just before the lock is released. Returns each caller's
  /// answer and the batches it formed.
  std::vector<result<decision>> round(const std::function<void()>& arm, batch_stats* formed = nullptr) {
    ++round_;
    users_.clear();
    ids_.clear();
    for (int i = 0; i < callers; ++i) {
      users_.push_back(fx_.add_user("batch-" + std::to_string(round_) + "-" + std::to_string(i)));
      ids_.push_back("batch-req-" + std::to_string(round_) + "-" + std::to_string(i));
    }
    const batch_stats before = fx_.store().write_batches();
    std::vector<std::optional<result<decision>>> got(callers);
    auto call = [&](int i) {
      const auto k = static_cast<std::size_t>(i);
      got[k].emplace(fx_.svc.try_consume(users_[k], tokens_per_call, with_request_id(ids_[k])));
    };
    std::vector<std::function<void()>> others;
    for (int i = 1; i < callers; ++i) others.emplace_back([&call, i] { call(i); });
    queue_behind_held_lock(
        fx_.db, [&] { call(0); }, others, arm);
    if (formed) {
      const batch_stats after = fx_.store().write_batches();
      formed->batches = after.batches - before.batches;
      formed->requests = after.requests - before.requests;
      formed->largest = after.largest;
    }
    std::vector<result<decision>> out;
    for (auto& g : got) out.push_back(std::move(*g));
    return out;
  }

  /// Whether caller i's consume is in the files, checked to be whole: its
  /// day counter, its audit row and its key all there, or none of them.
  bool applied(std::size_t i) {
    raw_sqlite db(fx_.db.file);
    const std::string who = "'" + users_[i].str() + "'";
    const auto messages = db.integer("SELECT COALESCE(SUM(messages_today), 0) FROM user_usage WHERE user_id = " + who);
    const auto tokens = db.integer("SELECT COALESCE(SUM(tokens_today), 0) FROM user_usage WHERE user_id = " + who);
    const auto rows =
        db.integer("SELECT count(*) FROM usage_logs WHERE event_type = 'message_sent' AND user_id = " + who);
    const auto keys = db.integer("SELECT count(*) FROM kauri_quota_idempotency_keys WHERE user_id = " + who);
    INFO("caller " << i << ": messages " << messages << ", tokens " << tokens << ", audit rows " << rows << ", keys "
                   << keys);
    CHECK((messages == 0 || messages == 1));
    CHECK(tokens == messages * tokens_per_call);
    CHECK(rows == messages);
    CHECK(keys == messages);
    return messages == 1;
  }

  service_fixture& fixture() { return fx_; }
  const user_id& user(std::size_t i) const { return users_[i]; }
  const std::string& id(std::size_t i) const { return ids_[i]; }

 private:
  service_fixture fx_;
  int round_ = 0;
  std::vector<user_id> users_;
  std::vector<std::string> ids_;
};

}  // namespace

TEST_CASE(
    "a failed write or sync at any point of a shared commit leaves each caller's change all there or not at all") {
  fault_guard vfs;
  for (const fault_case& fault : {write_fault, sync_fault, full_disk_fault}) {
    INFO("fault: " << std::string(fault.name));
    batch_bench bench;
    // How many operations of this kind the two commits perform.
    batch_stats formed;
    for (const auto& answer : bench.round([&] { vfs->reset_counts(); }, &formed)) REQUIRE(answer.has_value());
    const std::int64_t count = vfs->counts().of(fault.kind);
    REQUIRE(count > 0);
    // The first caller alone, the four that queued behind it in one commit.
    REQUIRE(formed.batches == 2);
    REQUIRE(formed.largest == 4);
    int failed = 0;
    int succeeded = 0;
    for (fault_mode mode : {fault_mode::transient, fault_mode::persistent}) {
      // A full disk stays full: its transient form is the write fault's.
      if (fault.kind == fault_kind::full_disk && mode == fault_mode::transient) continue;
      for (std::int64_t n = 1; n <= count; ++n) {
        INFO(std::string(to_string(mode)) << " fault on operation " << n << " of " << count);
        auto answers = bench.round([&] { vfs->arm(fault.kind, n, mode, fault.how); });
        vfs->disarm();
        CHECK(read_disk(bench.fixture().db.file).integrity == "ok");
        for (std::size_t i = 0; i < answers.size(); ++i) {
          INFO("caller " << i);
          const bool applied = bench.applied(i);
          if (answers[i].has_value()) {
            ++succeeded;
            CHECK_MESSAGE(applied, "the caller was told allowed but nothing was counted");
          } else {
            ++failed;
            CHECK_MESSAGE(answers[i].error().is(errc::io_error), describe(answers[i].error()));
          }
          // The caller retries with its request_id: counted exactly once.
          const decision again =
              must(bench.fixture().svc.try_consume(bench.user(i), tokens_per_call, with_request_id(bench.id(i))));
          CHECK(again.allowed);
          CHECK(again.replayed == applied);
          CHECK(bench.applied(i));
          bench.fixture().check_audit(bench.user(i));
        }
      }
    }
    MESSAGE(std::string(fault.name) << " faults over a shared commit: " << count << " operations, " << succeeded
                                    << " answers allowed, " << failed << " failed");
    CHECK(failed > 0);
  }
}
