#include "support/write_lock.hpp"

#ifdef KAURI_QUOTA_TEST_POSTGRES
#include "support/postgres_server.hpp"

#include <libpq-fe.h>
#endif

#include <sqlite3.h>

#include <chrono>
#include <string>
#include <thread>

namespace kauri_quota::testing {

struct held_write_lock::impl {
  sqlite3* lite = nullptr;
#ifdef KAURI_QUOTA_TEST_POSTGRES
  PGconn* pg = nullptr;
#endif
  bool held = false;

  void run(const char* sql) {
    if (lite) {
      char* msg = nullptr;
      const int rc = sqlite3_exec(lite, sql, nullptr, nullptr, &msg);
      const std::string why = msg ? msg : "";
      sqlite3_free(msg);
      REQUIRE_MESSAGE(rc == SQLITE_OK, sql << ": " << why);
      return;
    }
#ifdef KAURI_QUOTA_TEST_POSTGRES
    PGresult* r = PQexec(pg, sql);
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    REQUIRE_MESSAGE(ok, sql << ": " << PQerrorMessage(pg));
#endif
  }
};

held_write_lock::held_write_lock(const test_db& db) : impl_(std::make_unique<impl>()) {
  if (db.backend == "sqlite") {
    const int rc = sqlite3_open_v2(db.file.c_str(), &impl_->lite, SQLITE_OPEN_READWRITE, nullptr);
    REQUIRE_MESSAGE(rc == SQLITE_OK, "cannot open " << db.file.string());
    sqlite3_busy_timeout(impl_->lite, 10000);
    impl_->run("BEGIN IMMEDIATE");
  } else {
#ifdef KAURI_QUOTA_TEST_POSTGRES
    impl_->pg = PQconnectdb((kq_test::pg_server_conninfo() + " dbname=" + db.pg_database).c_str());
    REQUIRE_MESSAGE(PQstatus(impl_->pg) == CONNECTION_OK, PQerrorMessage(impl_->pg));
    impl_->run("BEGIN");
    impl_->run("LOCK TABLE users IN ACCESS EXCLUSIVE MODE");
#else
    FAIL("this build has no PostgreSQL");
#endif
  }
  impl_->held = true;
}

held_write_lock::~held_write_lock() {
  if (impl_->lite) sqlite3_close(impl_->lite);  // rolls back a transaction still open
#ifdef KAURI_QUOTA_TEST_POSTGRES
  if (impl_->pg) PQfinish(impl_->pg);
#endif
}

void held_write_lock::release() {
  if (!impl_->held) return;
  impl_->held = false;
  impl_->run(impl_->lite ? "ROLLBACK" : "COMMIT");
}

void queue_behind_held_lock(const test_db& db, const std::function<void()>& first,
                            const std::vector<std::function<void()>>& others,
                            const std::function<void()>& while_queued) {
  std::vector<std::thread> threads;
  {
    held_write_lock lock(db);
    threads.emplace_back(first);
    // Long enough for a thread to reach the lock, even under a sanitizer.
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    for (const auto& f : others) threads.emplace_back(f);
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    if (while_queued) while_queued();
    lock.release();
  }
  for (auto& t : threads) t.join();
}

}  // namespace kauri_quota::testing
