// End-to-end tests of the kauri-quota binary on a temporary SQLite
// database: exit statuses, error lines, and what it prints.

#include "support/json.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>
#include <sqlite3.h>  // to prepare a host's own users table before migrate

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#ifndef KAURI_QUOTA_CLI_PATH
#error "KAURI_QUOTA_CLI_PATH must name the kauri-quota binary"
#endif

namespace {

using kauri_quota::testing::json_value;
using kauri_quota::testing::run_result;
namespace kqt = kauri_quota::testing;

const char* const cli_path = KAURI_QUOTA_CLI_PATH;

std::string show(const run_result& r) {
  return "exit " + std::to_string(r.exit_code) + "\n--- stdout ---\n" + r.out + "--- stderr ---\n" + r.err;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

/// Exit 1 with exactly one line on stderr, starting "error: ".
void check_error(const run_result& r) {
  INFO(show(r));
  CHECK(r.exit_code == 1);
  const auto lines = kqt::lines_of(r.err);
  REQUIRE(lines.size() == 1);
  CHECK(starts_with(lines[0], "error: "));
  CHECK(r.err.back() == '\n');
}

/// Exit 2 with a usage error and a hint to run --help.
void check_usage_error(const run_result& r) {
  INFO(show(r));
  CHECK(r.exit_code == 2);
  const auto lines = kqt::lines_of(r.err);
  REQUIRE(lines.size() == 2);
  CHECK((starts_with(lines[0], "usage error: ") || starts_with(lines[0], "error: ")));
  CHECK(lines[1].find("--help") != std::string::npos);
}

/// A fresh database file in a temporary directory, and the binary pointed at it.
class cli {
 public:
  cli() : url_("sqlite:" + db_path().string()) {}

  std::filesystem::path db_path() const { return dir_.path() / "quota.db"; }
  const std::string& url() const { return url_; }

  run_result run(std::vector<std::string> args) const {
    args.insert(args.begin(), {"--db", url_});
    return kqt::run_program(cli_path, args);
  }

  /// Runs with --json, requires `expected_exit` and parses stdout.
  json_value run_json(std::vector<std::string> args, int expected_exit = 0) const {
    args.insert(args.begin(), "--json");
    const run_result r = run(std::move(args));
    INFO(show(r));
    REQUIRE(r.exit_code == expected_exit);
    auto parsed = kqt::try_parse_json(r.out);
    REQUIRE(parsed.has_value());
    return *parsed;
  }

  void ok(std::vector<std::string> args) const {
    const run_result r = run(std::move(args));
    INFO(show(r));
    REQUIRE(r.exit_code == 0);
  }

  void migrate() const { ok({"migrate"}); }

  /// A migrated database with user u1 on free.
  void with_user() const {
    migrate();
    ok({"user", "add", "u1"});
  }

  /// Runs SQL on the database file directly, as another program would.
  void exec_sql(const char* sql) const {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(db_path().c_str(), &db) == SQLITE_OK);
    char* message = nullptr;
    const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &message);
    INFO((message != nullptr ? message : ""));
    sqlite3_free(message);
    sqlite3_close(db);
    REQUIRE(rc == SQLITE_OK);
  }

  /// What the audit log and the quota of u1 say; equal before and after a
  /// refused command when nothing changed.
  std::string state_of_u1() const {
    const run_result quota = run({"--json", "quota", "u1"});
    const run_result events = run({"--json", "events", "u1", "--limit", "10000"});
    REQUIRE(quota.exit_code == 0);
    REQUIRE(events.exit_code == 0);
    return quota.out + events.out;
  }

 private:
  kqt::temp_dir dir_;
  std::string url_;
};

}  // namespace

TEST_SUITE("kauri-quota") {
  TEST_CASE("--help and --version exit 0 and a missing command is a usage error") {
    const run_result help = kqt::run_program(cli_path, {"--help"});
    CHECK(help.exit_code == 0);
    CHECK(help.out.find("kauri-quota") != std::string::npos);
    CHECK(help.out.find("consume USER") != std::string::npos);
    CHECK(help.out.find("prune --before DATE") != std::string::npos);
    CHECK(help.err.empty());

    const run_result version = kqt::run_program(cli_path, {"--version"});
    CHECK(version.exit_code == 0);
    CHECK(starts_with(version.out, "kauri-quota "));

    check_usage_error(kqt::run_program(cli_path, {}));
  }

  TEST_CASE("migrate creates the database and schema reports it up to date") {
    cli c;
    CHECK_FALSE(std::filesystem::exists(c.db_path()));
    const json_value m = c.run_json({"migrate"});
    CHECK(std::filesystem::exists(c.db_path()));
    CHECK(m["from_version"].as_int() == 0);
    CHECK(m["to_version"].as_int() >= 4);
    CHECK(m["applied"].size() == static_cast<std::size_t>(m["to_version"].as_int()));

    const json_value s = c.run_json({"schema"});
    CHECK(s["current_version"].as_int() == m["to_version"].as_int());
    CHECK(s["newest_version"].as_int() == m["to_version"].as_int());
    REQUIRE(s["migrations"].size() >= 4);
    for (std::size_t i = 0; i < s["migrations"].size(); ++i) {
      CHECK(s["migrations"][i]["version"].as_int() == static_cast<std::int64_t>(i + 1));
      CHECK_FALSE(s["migrations"][i]["applied_at"].is_null());
    }

    const run_result human = c.run({"schema"});
    CHECK(human.exit_code == 0);
    CHECK(human.out.find("up to date") != std::string::npos);

    const run_result again = c.run({"migrate"});
    CHECK(again.exit_code == 0);
    CHECK(again.out.find("nothing to do") != std::string::npos);
  }

  TEST_CASE("migrate --down rolls back and migrate --to moves to a version") {
    cli c;
    const std::int64_t newest = c.run_json({"migrate"})["to_version"].as_int();

    const json_value down = c.run_json({"migrate", "--down", "1"});
    CHECK(down["to_version"].as_int() == newest - 1);
    CHECK(c.run_json({"schema"})["current_version"].as_int() == newest - 1);

    // Every other command refuses a schema that is not current.
    const run_result stale = c.run({"tiers"});
    check_error(stale);
    CHECK(stale.err.find("migrate") != std::string::npos);

    check_error(c.run({"migrate", "--down", std::to_string(newest + 5)}));
    check_usage_error(c.run({"migrate", "--down", "1", "--to", "2"}));

    const json_value up = c.run_json({"migrate", "--to", std::to_string(newest)});
    CHECK(up["to_version"].as_int() == newest);
    c.ok({"tiers"});
  }

  TEST_CASE("migrate backfills a host's existing users table quietly when stderr is not a terminal") {
    cli c;
    c.exec_sql(
        "CREATE TABLE users (user_id TEXT PRIMARY KEY, email TEXT, created_at TIMESTAMP);"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500)"
        "  INSERT INTO users (user_id) SELECT 'host-' || i FROM n;");
    const run_result r = c.run({"migrate"});
    INFO(show(r));
    CHECK(r.exit_code == 0);
    CHECK(r.err.empty());  // no progress lines on a pipe
    const json_value sub = c.run_json({"user", "show", "host-2500"});
    CHECK(sub["subscription_tier"].as_string() == "free");
    CHECK(sub["subscription_status"].as_string() == "active");
  }

  TEST_CASE("commands other than migrate do not create a missing database file") {
    cli c;
    const run_result r = c.run({"quota", "u1"});
    check_error(r);
    CHECK(r.err.find("database file not found") != std::string::npos);
    CHECK(r.err.find("kauri-quota migrate") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(c.db_path()));
    check_error(c.run({"schema"}));
    CHECK_FALSE(std::filesystem::exists(c.db_path()));
  }

  TEST_CASE("the database URL comes from KAURI_QUOTA_DB when --db is not given") {
    cli c;
    c.migrate();
    const run_result r = kqt::run_program(cli_path, {"--json", "tiers"}, {{"KAURI_QUOTA_DB", c.url()}});
    INFO(show(r));
    CHECK(r.exit_code == 0);
    CHECK(kqt::try_parse_json(r.out).has_value());
  }

  TEST_CASE("tiers --json lists the four tiers with the spec's prices") {
    cli c;
    c.migrate();
    const json_value tiers = c.run_json({"tiers"});
    REQUIRE(tiers.size() == 4);
    const std::vector<std::pair<std::string, std::int64_t>> expected{
        {"free", 0}, {"pro", 7000}, {"max", 22000}, {"enterprise", 85000}};
    for (std::size_t i = 0; i < expected.size(); ++i) {
      CAPTURE(i);
      CHECK(tiers[i]["tier_id"].as_string() == expected[i].first);
      CHECK(tiers[i]["price_fcfa"].as_int() == expected[i].second);
    }
    CHECK(tiers[0]["messages_per_day"].as_int() == 5);
    CHECK(tiers[0]["messages_per_month"].as_int() == 150);
    CHECK(tiers[3]["messages_per_day"].is_null());

    const json_value free = c.run_json({"tier", "free"});
    CHECK(free["name_fr"].as_string() == "Gratuit");

    const run_result human = c.run({"tiers"});
    CHECK(human.exit_code == 0);
    CHECK(human.out.find("7,000") != std::string::npos);
    CHECK(human.out.find("unlimited") != std::string::npos);
  }

  TEST_CASE("tier set changes limits, null makes them unlimited") {
    cli c;
    c.migrate();
    const json_value set = c.run_json({"tier", "set", "free", "--daily", "2", "--tokens", "null", "--name", "Libre"});
    CHECK(set["messages_per_day"].as_int() == 2);
    CHECK(set["tokens_per_month"].is_null());
    CHECK(set["name"].as_string() == "Libre");
    CHECK(set["messages_per_month"].as_int() == 150);
    CHECK(c.run_json({"tier", "free"})["messages_per_day"].as_int() == 2);

    check_usage_error(c.run({"tier", "set", "free"}));
    check_usage_error(c.run({"tier", "set", "free", "--daily", "-1"}));
    check_usage_error(c.run({"tier", "set", "free", "--visible", "maybe"}));
    check_error(c.run({"tier", "set", "gold", "--daily", "1"}));
  }

  TEST_CASE("user add puts a new user on free and active and user show reads it back") {
    cli c;
    c.migrate();
    const json_value added = c.run_json({"user", "add", "u1", "--email", "u1@example.com"});
    CHECK(added["user_id"].as_string() == "u1");
    CHECK(added["subscription_tier"].as_string() == "free");
    CHECK(added["subscription_status"].as_string() == "active");
    CHECK(added["email"].as_string() == "u1@example.com");

    const json_value shown = c.run_json({"user", "show", "u1"});
    CHECK(shown["subscription_tier"].as_string() == "free");

    check_error(c.run({"user", "add", "u1"}));  // user_exists
    CHECK(c.run_json({"user", "add", "u2", "--tier", "pro"})["subscription_tier"].as_string() == "pro");
    check_error(c.run({"user", "add", "u3", "--tier", "gold"}));
    check_error(c.run({"user", "show", "u3"}));  // not created by the failed add
    check_error(c.run({"user", "show", "nobody"}));

    const run_result human = c.run({"user", "show", "u1"});
    CHECK(human.exit_code == 0);
    CHECK(human.out.find("active") != std::string::npos);
  }

  TEST_CASE("consume allows five messages and denies the sixth with the 429 payload") {
    cli c;
    c.with_user();
    for (int i = 1; i <= 5; ++i) {
      CAPTURE(i);
      const json_value d = c.run_json({"consume", "u1"});
      CHECK(d["allowed"].as_bool());
      CHECK(d["quota"]["messages_today"].as_int() == i);
    }
    const run_result denied = c.run({"consume", "u1"});
    INFO(show(denied));
    CHECK(denied.exit_code == 3);
    CHECK(denied.err.empty());
    const auto payload = kqt::try_parse_json(denied.out);
    REQUIRE(payload.has_value());
    CHECK((*payload)["error"].as_string() == "quota_exceeded");
    CHECK((*payload)["limit"].as_string() == "daily");
    CHECK((*payload)["limit_value"].as_int() == 5);
    CHECK((*payload)["retry_after_seconds"].as_int() > 0);

    CHECK(c.run_json({"consume", "u1"}, 3)["error"].as_string() == "quota_exceeded");
    CHECK(c.run({"check", "u1"}).exit_code == 3);
    CHECK(c.run_json({"quota", "u1"})["messages_today"].as_int() == 5);
  }

  TEST_CASE("upgrade to pro lets the next message through") {
    cli c;
    c.with_user();
    for (int i = 0; i < 5; ++i) c.ok({"consume", "u1"});
    CHECK(c.run({"consume", "u1"}).exit_code == 3);

    const json_value up = c.run_json({"upgrade", "u1", "pro"});
    CHECK(up["success"].as_bool());
    CHECK(up["subscription"]["subscription_tier"].as_string() == "pro");

    CHECK(c.run({"check", "u1"}).exit_code == 0);
    const json_value d = c.run_json({"consume", "u1"});
    CHECK(d["allowed"].as_bool());
    CHECK(d["quota"]["messages_today"].as_int() == 6);

    check_error(c.run({"upgrade", "u1", "pro"}));  // already on pro
    check_error(c.run({"upgrade", "u1", "gold"}));
  }

  TEST_CASE("consume with a request id counts a retry once") {
    cli c;
    c.with_user();
    const json_value first = c.run_json({"consume", "u1", "--request-id", "req-1", "--tokens", "10"});
    CHECK_FALSE(first["replayed"].as_bool());
    const json_value retry = c.run_json({"consume", "u1", "--request-id", "req-1", "--tokens", "10"});
    CHECK(retry["replayed"].as_bool());
    CHECK(c.run_json({"quota", "u1"})["messages_today"].as_int() == 1);
    check_error(c.run({"consume", "u1", "--request-id", "req-1", "--tokens", "11"}));  // idempotency_mismatch
  }

  TEST_CASE("record, reserve, commit and release round trip") {
    cli c;
    c.with_user();
    const json_value rec = c.run_json({"record", "u1", "--messages", "2", "--tokens", "100"});
    CHECK(rec["messages_today"].as_int() == 2);
    CHECK(rec["tokens_this_month"].as_int() == 100);

    const json_value reserved = c.run_json({"reserve", "u1", "--tokens", "500"});
    CHECK(reserved["allowed"].as_bool());
    const std::string res = reserved["reservation_id"].as_string();
    REQUIRE_FALSE(res.empty());
    CHECK(reserved["quota"]["messages_today"].as_int() == 3);

    const json_value committed = c.run_json({"commit", res, "--tokens", "420"});
    CHECK(committed["state"].as_string() == "committed");
    CHECK(committed["actual_tokens"].as_int() == 420);
    check_error(c.run({"commit", res, "--tokens", "1"}));  // already closed

    const std::string res2 = c.run_json({"reserve", "u1", "--tokens", "50"})["reservation_id"].as_string();
    REQUIRE_FALSE(res2.empty());
    CHECK(c.run_json({"release", res2})["state"].as_string() == "released");
    check_error(c.run({"release", "no-such-reservation"}));

    const json_value q = c.run_json({"quota", "u1"});
    CHECK(q["messages_today"].as_int() == 3);
    CHECK(q["tokens_this_month"].as_int() == 520);

    const json_value expired = c.run_json({"expire"});
    CHECK(expired["expired"].as_int() == 0);
    CHECK(expired["request_ids_forgotten"].as_int() == 0);

    check_usage_error(c.run({"commit", res}));  // --tokens is required
  }

  TEST_CASE("expire forgets the request ids older than --request-id-ttl") {
    cli c;
    c.with_user();
    c.ok({"consume", "u1", "--request-id", "old"});
    c.ok({"consume", "u1", "--request-id", "new"});
    c.exec_sql(
        "UPDATE kauri_quota_idempotency_keys SET created_at = strftime('%Y-%m-%d %H:%M:%f', 'now', '-2 days')"
        " WHERE request_id = 'old'");
    CHECK(c.run_json({"expire", "--request-id-ttl", "forever"})["request_ids_forgotten"].as_int() == 0);
    CHECK(c.run_json({"expire", "--request-id-ttl", "3d"})["request_ids_forgotten"].as_int() == 0);
    const run_result r = c.run({"expire", "--request-id-ttl", "36h"});
    INFO(show(r));
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("forgot 1 request id older than 36 hours") != std::string::npos);
    // The forgotten id counts again; the other one still replays.
    CHECK_FALSE(c.run_json({"consume", "u1", "--request-id", "old"})["replayed"].as_bool());
    CHECK(c.run_json({"consume", "u1", "--request-id", "new"})["replayed"].as_bool());
    CHECK(c.run_json({"quota", "u1"})["messages_today"].as_int() == 3);
    // The library's bounds apply, and a refused TTL forgets nothing.
    check_error(c.run({"expire", "--request-id-ttl", "30s"}));
    check_error(c.run({"expire", "--request-id-ttl", "401d"}));
    CHECK(c.run_json({"consume", "u1", "--request-id", "new"})["replayed"].as_bool());
  }

  TEST_CASE("prune --before deletes the older months' day rows and audit rows and reports the counts") {
    using namespace std::chrono;
    cli c;
    c.with_user();
    c.ok({"consume", "u1", "--tokens", "7"});
    // Two months ago, written as an older run of the library would have:
    // two messages on its first day, their audit rows, and one audit row
    // without a day (from before usage_date existed).
    const year_month_day today{floor<days>(system_clock::now())};
    const year_month_day keep_from = today.year() / today.month() / 1d - months{1};
    const year_month_day old = keep_from - months{1};
    const auto day = [](year_month_day d) {
      char text[11];
      std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(d.year()), static_cast<unsigned>(d.month()),
                    static_cast<unsigned>(d.day()));
      return std::string(text);
    };
    const std::string sql =
        "INSERT INTO user_usage (user_id, usage_date, messages_today, tokens_today, messages_this_month,"
        " tokens_this_month) VALUES ('u1', '" +
        day(old) +
        "', 2, 30, 2, 30);"
        "INSERT INTO usage_logs (user_id, event_type, messages_count, tokens_count, usage_date, event_timestamp)"
        " VALUES ('u1', 'message_sent', 1, 10, '" +
        day(old) + "', '" + day(old) + " 08:00:00.000000'), ('u1', 'message_sent', 1, 20, '" + day(old) + "', '" +
        day(old) + " 09:00:00.000000'), ('u1', 'note', 0, 0, NULL, '" + day(old) +
        " 10:00:00.000000');"
        // and the reservation the second message settled
        "INSERT INTO kauri_quota_reservations (reservation_id, user_id, usage_date, messages, estimated_tokens,"
        " actual_tokens, state, created_at, expires_at, settled_at) VALUES ('r-old', 'u1', '" +
        day(old) + "', 1, 50, 20, 'committed', '" + day(old) + " 09:00:00.000000', '" + day(old) +
        " 09:15:00.000000', '" + day(old) + " 09:00:01.000000');";
    c.exec_sql(sql.c_str());
    const std::string quota_before = c.run({"--json", "quota", "u1"}).out;

    const json_value first = c.run_json({"prune", "--before", day(keep_from)});
    CHECK(first["before"].as_string() == day(keep_from));
    CHECK(first["day_rows"].as_int() == 1);
    CHECK(first["audit_rows"].as_int() == 3);
    CHECK(first["reservations"].as_int() == 1);
    // This month is untouched, and a second prune finds nothing.
    CHECK(c.run({"--json", "quota", "u1"}).out == quota_before);
    const std::string now_state = c.state_of_u1();
    const run_result again = c.run({"prune", "--before", day(keep_from), "--batch", "1"});
    INFO(show(again));
    CHECK(again.exit_code == 0);
    CHECK(again.out ==
          "deleted 0 day rows, 0 audit rows and 0 reservations of the days before " + day(keep_from) + "\n");

    // Refusals change nothing: usage errors exit 2, the library's rule 1.
    check_usage_error(c.run({"prune"}));
    check_usage_error(c.run({"prune", "--before", "2025-02-30"}));
    check_usage_error(c.run({"prune", "--before", "yesterday"}));
    check_error(c.run({"prune", "--before", day(old.year() / old.month() / 15d)}));
    check_error(c.run({"prune", "--before", day(today.year() / today.month() / 1d + months{1})}));
    check_error(c.run({"prune", "--before", day(keep_from), "--batch", "0"}));
    CHECK(c.state_of_u1() == now_state);
  }

  TEST_CASE("reset daily brings messages_today to 0") {
    cli c;
    c.with_user();
    for (int i = 0; i < 3; ++i) c.ok({"consume", "u1"});
    const json_value r = c.run_json({"reset", "daily", "--user", "u1"});
    CHECK(r["users_touched"].as_int() == 1);
    CHECK(c.run_json({"quota", "u1"})["messages_today"].as_int() == 0);
    c.ok({"reset", "monthly"});
    CHECK(c.run_json({"quota", "u1"})["messages_this_month"].as_int() == 0);
    check_usage_error(c.run({"reset", "weekly"}));
  }

  TEST_CASE("events lists message_sent, newest first, filtered by type") {
    cli c;
    c.with_user();
    c.ok({"consume", "u1", "--ip", "192.0.2.7", "--user-agent", "tests/1.0"});
    c.ok({"consume", "u1"});
    const json_value all = c.run_json({"events", "u1"});
    std::size_t sent = 0;
    for (std::size_t i = 0; i < all.size(); ++i) sent += all[i]["event_type"].as_string() == "message_sent" ? 1 : 0;
    CHECK(sent == 2);

    const json_value one = c.run_json({"events", "u1", "--type", "message_sent", "--limit", "1"});
    REQUIRE(one.size() == 1);
    CHECK(one[0]["event_type"].as_string() == "message_sent");

    const run_result human = c.run({"events", "u1"});
    CHECK(human.exit_code == 0);
    CHECK(human.out.find("message_sent") != std::string::npos);
  }

  TEST_CASE("quota and stats show usage in human form") {
    cli c;
    c.with_user();
    for (int i = 0; i < 4; ++i) c.ok({"consume", "u1", "--tokens", "300"});
    const run_result q = c.run({"quota", "u1"});
    INFO(show(q));
    CHECK(q.exit_code == 0);
    CHECK(q.out.find("u1 (free, active)") != std::string::npos);
    CHECK(q.out.find("4/5") != std::string::npos);
    CHECK(q.out.find("1200/100000") != std::string::npos);
    CHECK(q.out.find("resets") != std::string::npos);
    CHECK(q.out.find("warning") != std::string::npos);  // 80% of the daily limit

    const json_value spec = c.run_json({"quota", "u1"});
    CHECK(spec["messages_per_day_limit"].as_int() == 5);
    CHECK(spec["messages_remaining_today"].as_int() == 1);
    CHECK(spec["warning_threshold_reached"].as_bool());

    const run_result zoned = c.run({"--tz", "Africa/Abidjan", "quota", "u1"});
    CHECK(zoned.exit_code == 0);

    const run_result stats = c.run({"stats", "u1"});
    CHECK(stats.exit_code == 0);
    CHECK(stats.out.find("80.0%") != std::string::npos);
    c.run_json({"stats", "u1"});
  }

  TEST_CASE("global options may come after the command") {
    cli c;
    c.with_user();
    const run_result r = kqt::run_program(cli_path, {"quota", "u1", "--json", "--db", c.url()});
    INFO(show(r));
    CHECK(r.exit_code == 0);
    CHECK(kqt::try_parse_json(r.out).has_value());
  }

  TEST_CASE("bad input is refused with one error line and changes nothing") {
    cli c;
    c.with_user();
    c.ok({"consume", "u1"});
    const std::string before = c.state_of_u1();

    SUBCASE("empty user id") { check_error(c.run({"consume", ""})); }
    SUBCASE("200-byte user id") {
      const run_result r = c.run({"consume", std::string(200, 'a')});
      check_error(r);
      CHECK(r.err.find(std::string(100, 'a')) == std::string::npos);
    }
    SUBCASE("user id with a control character") { check_error(c.run({"consume", "u\x01x"})); }
    SUBCASE("user id of invalid UTF-8") { check_error(c.run({"consume", "u\xff\xfe"})); }
    SUBCASE("user add with a bad user id") { check_error(c.run({"user", "add", "bad\nid"})); }
    SUBCASE("negative token count") {
      const run_result r = c.run({"consume", "u1", "--tokens", "-5"});
      check_usage_error(r);
      CHECK(r.err.find("negative") != std::string::npos);
    }
    SUBCASE("overflowing token count") {
      const run_result r = c.run({"consume", "u1", "--tokens", "99999999999999999999"});
      check_usage_error(r);
      CHECK(r.err.find("too large") != std::string::npos);
    }
    SUBCASE("token count beyond the library's bound") {
      check_error(c.run({"consume", "u1", "--tokens", "9223372036854775807"}));
    }
    SUBCASE("non-numeric count") { check_usage_error(c.run({"record", "u1", "--messages", "12abc"})); }
    SUBCASE("unknown tier") { check_error(c.run({"upgrade", "u1", "gold"})); }
    SUBCASE("bad time zone") { check_error(c.run({"--tz", "Mars/Olympus_Mons", "consume", "u1"})); }
    SUBCASE("unknown command") { check_usage_error(c.run({"frobnicate", "u1"})); }
    SUBCASE("unknown option") { check_usage_error(c.run({"consume", "u1", "--bogus"})); }
    SUBCASE("option of another command") { check_usage_error(c.run({"check", "u1", "--tokens", "3"})); }
    SUBCASE("missing argument") { check_usage_error(c.run({"consume"})); }
    SUBCASE("missing option value") { check_usage_error(c.run({"consume", "u1", "--tokens"})); }
    SUBCASE("extra argument") { check_usage_error(c.run({"consume", "u1", "u2"})); }
    SUBCASE("a long argument is not echoed in full") {
      const run_result r = c.run({std::string(300, 'z')});
      check_usage_error(r);
      CHECK(r.err.size() < 200);
    }
    SUBCASE("unreadable database path") {
      const std::vector<std::string> args{"--db", "sqlite:/nonexistent-dir/x.db", "consume", "u1"};
      check_error(kqt::run_program(cli_path, args));
      check_error(kqt::run_program(cli_path, {"--db", "sqlite:/nonexistent-dir/x.db", "migrate"}));
      CHECK_FALSE(std::filesystem::exists("/nonexistent-dir"));
    }
    SUBCASE("a password is never shown") {
      const run_result r = kqt::run_program(
          cli_path, {"--db", "postgresql://kauri:s3cret-pw@127.0.0.1:1/kauri?connect_timeout=1", "tiers"});
      check_error(r);
      CHECK(r.err.find("s3cret-pw") == std::string::npos);
    }

    CHECK(c.state_of_u1() == before);
  }

  TEST_CASE("a trial, a payment by hand, its repeat, a cancellation and its undo") {
    cli c;
    c.with_user();

    const json_value t = c.run_json({"trial", "u1", "max", "--length", "7d"});
    CHECK(t["subscription_tier"].as_string() == "max");
    CHECK(t["subscription_status"].as_string() == "trialing");
    CHECK_FALSE(t["trial_end_date"].is_null());
    check_error(c.run({"trial", "u1", "pro"}));  // one trial per user

    // A wrong amount changes nothing.
    const std::string before = c.state_of_u1();
    const run_result wrong = c.run({"pay", "u1", "pro", "--amount", "6999", "--transaction-id", "R-1"});
    check_error(wrong);
    CHECK(wrong.err.find("7000") != std::string::npos);
    check_error(c.run({"--currency", "EUR", "pay", "u1", "pro", "--amount", "7000", "--transaction-id", "R-1"}));
    CHECK(c.state_of_u1() == before);

    const json_value paid =
        c.run_json({"pay", "u1", "pro", "--amount", "14000", "--months", "2", "--transaction-id", "R-1"});
    CHECK(paid["payment"]["status"].as_string() == "applied");
    CHECK(paid["replayed"].as_bool() == false);
    CHECK(paid["subscription"]["subscription_tier"].as_string() == "pro");
    CHECK(paid["subscription"]["subscription_status"].as_string() == "active");
    const std::string end = paid["subscription"]["subscription_end_date"].as_string();

    const run_result again =
        c.run({"pay", "u1", "pro", "--amount", "14000", "--months", "2", "--transaction-id", "R-1"});
    INFO(show(again));
    CHECK(again.exit_code == 0);
    CHECK(again.out.find("already recorded") != std::string::npos);
    CHECK(c.run_json({"user", "show", "u1"})["subscription_end_date"].as_string() == end);

    const run_result list = c.run({"payments", "u1"});
    INFO(show(list));
    CHECK(list.exit_code == 0);
    CHECK(list.out.find("R-1") != std::string::npos);
    CHECK(list.out.find("applied") != std::string::npos);

    const run_result cancel = c.run({"cancel", "u1"});
    INFO(show(cancel));
    CHECK(cancel.exit_code == 0);
    CHECK(cancel.out.find("canceled at the end of the period") != std::string::npos);
    CHECK(c.run_json({"user", "show", "u1"})["cancel_at_period_end"].as_bool());
    c.ok({"cancel", "u1", "--undo"});
    CHECK_FALSE(c.run_json({"user", "show", "u1"})["cancel_at_period_end"].as_bool());
    check_error(c.run({"cancel", "u1", "--undo"}));  // nothing scheduled any more

    c.ok({"schedule", "u1", "free"});
    CHECK(c.run_json({"user", "show", "u1"})["scheduled_tier"].as_string() == "free");

    const run_result events = c.run({"events", "u1"});
    CHECK(events.out.find("trial_started") != std::string::npos);
    CHECK(events.out.find("payment_applied") != std::string::npos);
    CHECK(events.out.find("cancellation_scheduled") != std::string::npos);
  }

  TEST_CASE("history shows the usage per day and per month; user zone sets the user's own zone") {
    cli c;
    c.with_user();
    c.ok({"consume", "u1", "--tokens", "40"});
    c.ok({"consume", "u1", "--tokens", "2"});

    const json_value days = c.run_json({"history", "u1"});
    REQUIRE(days.size() == 30);
    CHECK(days[29]["messages"].as_int() == 2);
    CHECK(days[29]["tokens"].as_int() == 42);
    CHECK(days[0]["messages"].as_int() == 0);
    const json_value months = c.run_json({"history", "u1", "--by-month"});
    REQUIRE(months.size() == 12);
    CHECK(months[11]["messages"].as_int() == 2);
    const run_result human = c.run({"history", "u1"});
    CHECK(human.out.find("####################") != std::string::npos);

    check_error(c.run({"history", "u1", "--from", "2026-02-30"}));
    check_error(c.run({"history", "u1", "--from", "2026-12-01", "--to", "2026-11-01"}));
    check_error(c.run({"user", "zone", "u1", "Mars/Olympus_Mons"}));

    CHECK(c.run_json({"user", "zone", "u1", "Pacific/Apia"})["time_zone"].as_string() == "Pacific/Apia");
    CHECK(c.run({"user", "show", "u1"}).out.find("Pacific/Apia") != std::string::npos);
    CHECK(c.run_json({"user", "zone", "u1", "none"})["time_zone"].is_null());

    const run_result expire = c.run({"expire"});
    CHECK(expire.out.find("subscription transition") != std::string::npos);
  }

  TEST_CASE("demo tells the story and exits 0") {
    const kqt::temp_dir tmp;
    const std::map<std::string, std::string> env{{"TMPDIR", tmp.path().string()}};
    const run_result r = kqt::run_program(cli_path, {"demo"}, env);
    INFO(show(r));
    CHECK(r.exit_code == 0);
    CHECK(r.err.empty());
    CHECK(r.out.find("quota_exceeded") != std::string::npos);
    CHECK(r.out.find("7,000") != std::string::npos);

    CHECK(std::filesystem::is_empty(tmp.path()));  // the temporary database is removed

    const run_result j = kqt::run_program(cli_path, {"demo", "--json"}, env);
    INFO(show(j));
    CHECK(j.exit_code == 0);
    const auto steps = kqt::try_parse_json(j.out);
    REQUIRE(steps.has_value());
    REQUIRE(steps->type == json_value::kind::array);
    CHECK(steps->size() >= 8);
    bool saw_denial = false;
    for (std::size_t i = 0; i < steps->size(); ++i) {
      CAPTURE(i);
      CHECK((*steps)[i]["ok"].as_bool());
      const json_value& result = (*steps)[i]["result"];
      if (result.has("error") && result["error"].as_string() == "quota_exceeded") saw_denial = true;
    }
    CHECK(saw_denial);
    CHECK(std::filesystem::is_empty(tmp.path()));

    const run_result kept = kqt::run_program(cli_path, {"demo", "--keep"}, env);
    CHECK(kept.exit_code == 0);
    CHECK_FALSE(std::filesystem::is_empty(tmp.path()));
  }

}  // TEST_SUITE
