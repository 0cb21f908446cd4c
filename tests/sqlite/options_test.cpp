// SQLite open options and URLs: WAL, synchronous (FULL by default), busy
// timeout, unopenable paths, malformed URLs and in-memory databases.
#include "sqlite/raw_sqlite.hpp"
#include "support/fixtures.hpp"

#include <mutex>
#include <set>
#include <string>
#include <vector>

using namespace kauri_quota;
using namespace kauri_quota::testing;
using namespace std::chrono_literals;

namespace {

// Keeps track of every SQLite connection opened in this process while it
// lives (through an auto-extension, which runs for each new connection, and
// a close trace), so that the tests can ask the library's own connections
// for their per-connection settings, which no second connection can see.
std::mutex spy_mutex;
std::set<sqlite3*> spied_connections;

int on_connection_trace(unsigned type, void*, void* p, void*) {
  if (type == SQLITE_TRACE_CLOSE) {
    std::lock_guard lock(spy_mutex);
    spied_connections.erase(static_cast<sqlite3*>(p));
  }
  return 0;
}

int on_connection_open(sqlite3* db, const char**, const sqlite3_api_routines*) {
  sqlite3_trace_v2(db, SQLITE_TRACE_CLOSE, on_connection_trace, nullptr);
  std::lock_guard lock(spy_mutex);
  spied_connections.insert(db);
  return SQLITE_OK;
}

class connection_spy {
 public:
  connection_spy() {
    std::lock_guard lock(spy_mutex);
    spied_connections.clear();
    // void (*)(void) is the generic function pointer type SQLite asks for.
    sqlite3_auto_extension(reinterpret_cast<void (*)(void)>(on_connection_open));
  }
  connection_spy(const connection_spy&) = delete;
  connection_spy& operator=(const connection_spy&) = delete;
  ~connection_spy() {
    sqlite3_cancel_auto_extension(reinterpret_cast<void (*)(void)>(on_connection_open));
    std::lock_guard lock(spy_mutex);
    spied_connections.clear();
  }

  /// The value of an integer PRAGMA on every connection opened so far and
  /// still open.
  std::vector<std::int64_t> pragma(const char* name) {
    std::lock_guard lock(spy_mutex);
    std::vector<std::int64_t> out;
    const std::string sql = std::string("PRAGMA ") + name;
    for (sqlite3* db : spied_connections) {
      sqlite3_stmt* st = nullptr;
      REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
      if (sqlite3_step(st) == SQLITE_ROW) out.push_back(sqlite3_column_int64(st, 0));
      sqlite3_finalize(st);
    }
    return out;
  }
};

std::string joined(const std::vector<std::int64_t>& v) {
  std::string s;
  for (auto x : v) s += std::to_string(x) + " ";
  return s;
}

/// Runs a few operations so that a lazily filled connection pool is in use.
void exercise(storage& store) {
  service_options o;
  o.time_source = std::make_shared<manual_clock>(at("2025-11-07T10:00:00Z"));
  auto svc = must(quota_service::create(std::shared_ptr<storage>(&store, [](storage*) {}), o));
  must(svc.create_user(user_id{"alice"}));
  REQUIRE(must(svc.try_consume(user_id{"alice"})).allowed);
  must(svc.get_user_quota_info(user_id{"alice"}));
}

}  // namespace

TEST_CASE("a SQLite database opened by the library is in WAL journal mode, persistently") {
  auto db = make_test_db("sqlite");
  exercise(*db.store);
  raw_sqlite raw(db.file);
  CHECK(raw.text("PRAGMA journal_mode") == std::optional<std::string>{"wal"});
  CHECK(db.store->backend() == "sqlite");
}

TEST_CASE("the library's SQLite connections use synchronous=FULL by default") {
  connection_spy spy;
  auto db = make_test_db("sqlite");
  exercise(*db.store);
  const auto values = spy.pragma("synchronous");
  INFO("PRAGMA synchronous on the library's connections: " << joined(values));
  REQUIRE_FALSE(values.empty());
  for (auto v : values) CHECK(v == 2);  // FULL
}

TEST_CASE("the library's SQLite connections use synchronous=NORMAL when asked through open_storage") {
  connection_spy spy;
  test_db_options o;
  o.open.synchronous = sqlite_synchronous::normal;
  auto db = make_test_db("sqlite", o);
  exercise(*db.store);
  const auto values = spy.pragma("synchronous");
  INFO("PRAGMA synchronous on the library's connections: " << joined(values));
  REQUIRE_FALSE(values.empty());
  for (auto v : values) CHECK(v == 1);  // NORMAL
}

TEST_CASE("open_sqlite honours synchronous and busy_timeout") {
  connection_spy spy;
  temp_dir dir;
  sqlite_options o;
  o.path = (dir.path() / "opts.db").string();
  o.synchronous = sqlite_synchronous::normal;
  o.busy_timeout = 2500ms;
  o.auto_migrate = true;
  auto store = must(open_sqlite(o));
  exercise(*store);
  const auto sync = spy.pragma("synchronous");
  const auto busy = spy.pragma("busy_timeout");
  INFO("synchronous: " << joined(sync) << "; busy_timeout: " << joined(busy));
  REQUIRE_FALSE(sync.empty());
  for (auto v : sync) CHECK(v == 1);
  for (auto v : busy) CHECK(v == 2500);
}

TEST_CASE("the library's SQLite connections wait 10 s for a lock by default") {
  connection_spy spy;
  auto db = make_test_db("sqlite");
  exercise(*db.store);
  const auto busy = spy.pragma("busy_timeout");
  INFO("busy_timeout: " << joined(busy));
  REQUIRE_FALSE(busy.empty());
  for (auto v : busy) CHECK(v == 10000);
}

TEST_CASE("opening a SQLite file in a directory that does not exist is storage_unavailable with a clear message") {
  const auto opened = open_storage("sqlite:/nonexistent-dir/x.db");
  REQUIRE(check_error(opened, errc::storage_unavailable));
  INFO("message: " << opened.error().message);
  CHECK(opened.error().message.find("/nonexistent-dir/x.db") != std::string::npos);

  sqlite_options o;
  o.path = "/nonexistent-dir/x.db";
  check_error(open_sqlite(o), errc::storage_unavailable);
}

TEST_CASE("open_sqlite with create=false does not create a missing file") {
  temp_dir dir;
  sqlite_options o;
  o.path = (dir.path() / "missing.db").string();
  o.create = false;
  check_error(open_sqlite(o), errc::storage_unavailable);
  CHECK_FALSE(std::filesystem::exists(dir.path() / "missing.db"));
}

TEST_CASE("open_storage refuses malformed URLs with invalid_argument") {
  for (const char* url : {"", "mysql://x", "sqlite:", "sqlite", "file:/tmp/x.db", "postgresql:"}) {
    INFO("url \"" << url << "\"");
    check_error(open_storage(url), errc::invalid_argument);
  }
}

TEST_CASE("sqlite::memory: opens a private in-memory database that can be migrated and used") {
  auto first = must(open_storage("sqlite::memory:"));
  must(first->migrate({}));
  CHECK(must(first->tiers(true)).size() == 4);
  exercise(*first);
  auto second = must(open_storage("sqlite::memory:"));
  CHECK(must(second->schema_version()) == 0);
}

TEST_CASE("a file that is not a SQLite database is refused with an error, not a crash") {
  temp_dir dir;
  const auto file = dir.path() / "garbage.db";
  {
    std::FILE* out = std::fopen(file.c_str(), "wb");
    REQUIRE(out != nullptr);
    const std::string junk(8192, 'x');
    std::fwrite(junk.data(), 1, junk.size(), out);
    std::fclose(out);
  }
  auto opened = open_storage("sqlite:" + file.string());
  if (opened) {
    const auto migrated = opened.value()->migrate({});
    REQUIRE_FALSE(migrated.has_value());
    INFO(describe(migrated.error()));
    CHECK((migrated.error().is(errc::corrupt) || migrated.error().is(errc::storage_unavailable)));
  } else {
    INFO(describe(opened.error()));
    CHECK((opened.error().is(errc::corrupt) || opened.error().is(errc::storage_unavailable)));
  }
}

TEST_CASE("two storages on one SQLite file see each other's writes") {
  service_fixture f(make_test_db("sqlite"));
  const auto u = f.add_user("alice");
  REQUIRE(f.consume_n(u, 3) == 3);
  auto other_store = f.db.open_again();
  auto other = must(quota_service::create(other_store, [&] {
    service_options o;
    o.time_source = f.clock;
    return o;
  }()));
  CHECK(must(other.get_user_quota_info(u)).messages_today == 3);
  REQUIRE(must(other.try_consume(u)).allowed);
  CHECK(f.quota(u).messages_today == 4);
}
