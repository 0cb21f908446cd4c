// Test support shared by the kauri_quota test suites: fresh databases for
// the backend under test, a quota_service driven by a manual clock, audit
// bookkeeping, time parsing, result checks and (support/json.hpp) a JSON reader.
//
// The backend comes from the environment variable KQ_TEST_BACKEND
// ("sqlite" when unset), so one conformance executable runs against every
// backend. Everything here reports problems through doctest assertions and is
// meant to be called from inside a test case.
#pragma once

#include "support/json.hpp"      // the JSON reader is part of the fixtures' interface
#include "support/temp_dir.hpp"  // test_db holds one

#include <kauri_quota/kauri_quota.hpp>
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <source_location>  // must() and check_error() report the caller's line
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kauri_quota::testing {

// --- Time --------------------------------------------------------------------

/// The instant written as "YYYY-MM-DDTHH:MM:SSZ" (UTC); fails the test when
/// the text is malformed.
sys_time at(std::string_view iso_utc);

/// The day written as "YYYY-MM-DD"; fails the test when malformed.
local_date date(std::string_view ymd);

/// "YYYY-MM-DD" / "YYYY-MM-DDTHH:MM:SS.ffffffZ", for diagnostics (written
/// here rather than taken from the library so that a library bug cannot
/// hide in a failure message).
std::string show(local_date d);
std::string show(sys_time t);

/// The day after / before `d`.
local_date next_day(local_date d);

// --- Results -----------------------------------------------------------------

/// "code_name (n): message", for diagnostics.
std::string describe(const error& e);

/// The value of `r`; a failed result fails the test (fatally) at the
/// caller's line with the error's code and message.
template <class T>
T must(result<T> r, std::source_location loc = std::source_location::current()) {
  if (!r.has_value()) {
    ADD_FAIL_AT(loc.file_name(), static_cast<int>(loc.line()),
                "operation failed unexpectedly: " << describe(r.error()));
  }
  return std::move(r).value();
}

/// Checks that `r` failed with `expected` and a non-empty message; returns
/// whether it did (non-fatal, like CHECK).
template <class T>
bool check_error(const result<T>& r, errc expected, std::source_location loc = std::source_location::current()) {
  const auto file = loc.file_name();
  const auto line = static_cast<int>(loc.line());
  if (r.has_value()) {
    ADD_FAIL_CHECK_AT(file, line, "expected error " << to_string(expected) << " but the operation succeeded");
    return false;
  }
  bool ok = true;
  if (!r.error().is(expected)) {
    ADD_FAIL_CHECK_AT(file, line, "expected error " << to_string(expected) << " but got " << describe(r.error()));
    ok = false;
  }
  if (r.error().message.empty()) {
    ADD_FAIL_CHECK_AT(file, line, "error " << describe(r.error()) << " has an empty message");
    ok = false;
  }
  return ok;
}

// --- Databases ---------------------------------------------------------------

/// KQ_TEST_BACKEND, or "sqlite" when unset or empty.
std::string backend_from_env();

/// A fresh database of one backend, migrated to the newest version unless
/// asked otherwise, and destroyed (file removed / server stopped) at the
/// end of the test. Move-only.
struct test_db {
  std::string backend;         ///< "sqlite" or "postgresql"
  std::string url;             ///< what open_storage() was given
  std::filesystem::path file;  ///< SQLite: the database file; empty otherwise
  std::shared_ptr<kauri_quota::storage> store;
  std::optional<temp_dir> dir;  ///< SQLite: holds `file` (and its -wal / -shm)
  std::string pg_database;      ///< PostgreSQL: the database, dropped at the end

  test_db() = default;
  test_db(test_db&&) noexcept = default;
  test_db& operator=(test_db&&) noexcept = default;
  ~test_db();

  /// Opens another storage on the same database (a second connection pool,
  /// as a second process would have).
  std::shared_ptr<kauri_quota::storage> open_again(const open_options& opts = {}) const;
};

struct test_db_options {
  bool migrate = true;  ///< apply every migration (migrate({}))
  open_options open;    ///< passed to open_storage
};

/// A fresh database of the backend named by KQ_TEST_BACKEND.
test_db make_test_db();
/// A fresh database of `backend` ("sqlite" or "postgresql").
test_db make_test_db(std::string_view backend, const test_db_options& opts = {});

/// PostgreSQL: a fresh database on the throw-away test server (see
/// support/postgres_server.hpp), dropped at the end of the test.
test_db make_postgres_test_db(const test_db_options& opts);

// --- Audit -------------------------------------------------------------------

/// What a user's audit rows add up to for one day.
struct audit_totals {
  std::int64_t messages = 0;
  std::int64_t tokens = 0;
  std::int64_t events = 0;
};

/// Sums messages_count / tokens_count of the events that carry a usage_date,
/// per usage_date. Events without a usage_date are informational and skipped.
std::map<local_date, audit_totals> audit_by_day(const std::vector<usage_event>& events);

/// Every audit row of `user` (newest first), read through the public API.
std::vector<usage_event> all_events(storage& store, const user_id& user);

/// Checks the audit invariant for `user`: for every day that has audit rows
/// (and every day in `also`), the sum of the rows' messages_count and
/// tokens_count equals that day's messages_today and tokens_today.
void check_audit_matches_counters(storage& store, const user_id& user, sys_time now, const tier_id& default_tier,
                                  const std::vector<local_date>& also = {},
                                  std::source_location loc = std::source_location::current());

// --- Service fixture -----------------------------------------------------------

/// The instant every service_fixture starts at unless told otherwise.
inline constexpr std::string_view default_start = "2025-11-07T10:00:00Z";

/// A fresh database, a manual clock and a quota_service using both.
struct service_fixture {
  /// On a fresh database of the backend named by KQ_TEST_BACKEND.
  explicit service_fixture(service_options opts = {}, std::string_view start = default_start);
  /// On the given database (e.g. make_test_db("sqlite") in backend-specific tests).
  explicit service_fixture(test_db database, service_options opts = {}, std::string_view start = default_start);

  test_db db;
  std::shared_ptr<manual_clock> clock;
  /// With KQ_TEST_USER_ZONES=1 in the environment, a fixture asked for a
  /// service zone other than UTC runs its service in Pacific/Kiritimati
  /// (UTC+14; Pacific/Pago_Pago, UTC-11, when that was the zone asked for)
  /// and gives every user it adds the zone asked for as its own: the
  /// time-boundary suite then checks each user's own midnight, with a
  /// service zone that never agrees with it. Empty otherwise. (Declared
  /// before svc, which sets it as it is built.)
  std::optional<std::string> user_zone;
  quota_service svc;

  storage& store() const { return *db.store; }

  /// Another service on the same storage with its own options and clock.
  quota_service make_service(std::shared_ptr<const kauri_quota::clock> time_source, service_options opts = {}) const;

  // Time.
  void set_time(std::string_view iso_utc) { clock->set(at(iso_utc)); }
  void advance(std::chrono::microseconds d) { clock->advance(d); }
  sys_time now() const { return clock->now(); }
  local_date today() const { return local_day(now()); }
  /// The day of `t` in the zone the fixture's users count in (see
  /// user_zone).
  local_date local_day(sys_time t) const;

  // Users and tiers.
  /// Creates the user (default tier when `tier` is empty) and returns its id.
  user_id add_user(std::string_view id, std::optional<std::string_view> tier = {});
  /// Sets a tier's three limits (nullopt = unlimited) with update_tier.
  tier set_limits(std::string_view tier, limit per_day, limit per_month, limit tokens_per_month);

  // Reading.
  quota_info quota(const user_id& user);
  usage today_usage(const user_id& user);
  /// Counters of `user` for an arbitrary day, through storage::snapshot.
  usage usage_on(const user_id& user, local_date day);
  std::vector<usage_event> events(const user_id& user) { return all_events(store(), user); }
  /// How many audit rows of `user` have this event_type.
  std::size_t count_events(const user_id& user, std::string_view event_type);

  // Writing, failing the test on error.
  decision consume(const user_id& user, std::int64_t tokens = 0, const request_context& ctx = {});
  /// try_consume `n` times; returns how many were allowed.
  int consume_n(const user_id& user, int n, std::int64_t tokens = 0);

  /// The month-to-date invariant: messages_this_month / tokens_this_month of
  /// `latest` (the user's latest day of its month) equal the sums of
  /// messages_today / tokens_today over every day of that month up to it.
  void check_month_to_date(const user_id& user, local_date latest,
                           std::source_location loc = std::source_location::current());

  /// The audit invariant (see check_audit_matches_counters) for `user`.
  void check_audit(const user_id& user, const std::vector<local_date>& also = {},
                   std::source_location loc = std::source_location::current());
};

/// A request context carrying only an idempotency key.
request_context with_request_id(std::string_view id);

/// Service options with the quota time zone `zone` (an IANA name) and
/// every other option at its default.
service_options in_zone(std::string zone);

// --- Spec values ------------------------------------------------------------------

/// The quota_info the spec gives for `user` just created on the free tier
/// (5 messages a day, 150 a month, 100,000 tokens, nothing used yet) on
/// `day` in UTC: it resets at the next midnight and at the first midnight
/// of the next month. Written out here, not taken from the library.
quota_info expected_fresh_free_quota(const user_id& user, local_date day);

/// Every field of `q`, for diagnostics.
std::string show(const quota_info& q);

// --- Names for diagnostics -------------------------------------------------------

const char* name_of(limit_kind k) noexcept;
const char* name_of(reservation_state s) noexcept;
const char* name_of(subscription_status s) noexcept;

}  // namespace kauri_quota::testing

// doctest printers, so that failed comparisons show readable values.
namespace doctest {
template <>
struct StringMaker<std::chrono::year_month_day> {
  static String convert(const std::chrono::year_month_day& d) { return kauri_quota::testing::show(d).c_str(); }
};
template <>
struct StringMaker<kauri_quota::sys_time> {
  static String convert(const kauri_quota::sys_time& t) { return kauri_quota::testing::show(t).c_str(); }
};
template <>
struct StringMaker<std::optional<std::int64_t>> {
  static String convert(const std::optional<std::int64_t>& v) {
    return v ? std::to_string(*v).c_str() : "unlimited (nullopt)";
  }
};
template <>
struct StringMaker<std::optional<double>> {
  static String convert(const std::optional<double>& v) { return v ? std::to_string(*v).c_str() : "nullopt"; }
};
template <>
struct StringMaker<std::chrono::seconds> {
  static String convert(const std::chrono::seconds& s) { return (std::to_string(s.count()) + "s").c_str(); }
};
template <class Tag>
struct StringMaker<kauri_quota::basic_id<Tag>> {
  static String convert(const kauri_quota::basic_id<Tag>& id) { return ("\"" + id.str() + "\"").c_str(); }
};
template <>
struct StringMaker<kauri_quota::quota_info> {
  static String convert(const kauri_quota::quota_info& q) { return kauri_quota::testing::show(q).c_str(); }
};
template <>
struct StringMaker<kauri_quota::limit_kind> {
  static String convert(kauri_quota::limit_kind k) { return kauri_quota::testing::name_of(k); }
};
template <>
struct StringMaker<kauri_quota::reservation_state> {
  static String convert(kauri_quota::reservation_state s) { return kauri_quota::testing::name_of(s); }
};
template <>
struct StringMaker<kauri_quota::subscription_status> {
  static String convert(kauri_quota::subscription_status s) { return kauri_quota::testing::name_of(s); }
};
}  // namespace doctest
