// Hostile input through the kauri-quota command line: injection payloads,
// quotes, invalid UTF-8, control characters, oversized arguments, extreme
// numbers, unknown tiers and reservations, bad time zones, and malformed or
// password-bearing storage URLs (in --db and in KAURI_QUOTA_DB).
//
// A refused command exits 1 with exactly one line on stderr starting
// "error: ", or exits 2 with one "usage error: " line followed only by the
// hint to run --help; it prints nothing on stdout, its stderr is short and
// holds no raw control byte, and it changes nothing in an existing
// database. No output ever holds the password "S3cretCanary".
//
// NUL bytes cannot be passed through argv or the environment, so they are
// not tried here (the API tests cover them). Linux caps one argument or
// environment string at 128 KiB (MAX_ARG_STRLEN), so "1 MB" arguments are
// 128 KiB - 1 bytes each, plus one run whose arguments add up to 1 MB.

#include "support/json.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "support/utf8.hpp"

#include <doctest/doctest.h>
#include <sqlite3.h>  // to read the schema text of the database directly

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#ifndef KAURI_QUOTA_CLI_PATH
#error "KAURI_QUOTA_CLI_PATH must name the kauri-quota binary"
#endif

namespace {

using kauri_quota::testing::json_value;
using kauri_quota::testing::run_result;
namespace kqt = kauri_quota::testing;

const char* const cli_path = KAURI_QUOTA_CLI_PATH;
constexpr std::string_view canary = "S3cretCanary";
constexpr std::size_t max_arg = 128 * 1024 - 1;  // the longest single argv string Linux passes

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

/// A printable rendering of arbitrary bytes for diagnostics.
std::string printable(std::string_view s, std::size_t max = 200) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < max; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if ((b >= 0x20 && b < 0x7F && b != '\\') || b == '\n') {
      out += static_cast<char>(b);
    } else {
      out += "\\x";
      out += hex[b >> 4];
      out += hex[b & 0xF];
    }
  }
  if (s.size() > max) out += "... (" + std::to_string(s.size()) + " bytes)";
  return out;
}

std::string show(const run_result& r) {
  return "exit " + std::to_string(r.exit_code) + "\n--- stdout ---\n" + printable(r.out, 600) + "\n--- stderr ---\n" +
         printable(r.err, 600);
}

/// The first raw control byte of `s` other than the line feed, or -1.
int raw_control(std::string_view s) {
  for (const char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if ((b < 0x20 && b != '\n') || b == 0x7F) return b;
  }
  return -1;
}

/// The SQL text of every table, index and trigger of the SQLite database at
/// `path`, read directly (read-only): equal before and after when the
/// schema is untouched.
std::string schema_sql(const std::filesystem::path& path) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_master ORDER BY 1",
                           -1, &st, nullptr) == SQLITE_OK) {
      while (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char* text = sqlite3_column_text(st, 0);
        out += text != nullptr ? reinterpret_cast<const char*>(text) : "";
        out += '\n';
      }
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return out;
}

/// Neither stream holds the password.
void check_no_canary(const run_result& r) {
  INFO(show(r));
  CHECK(r.out.find(canary) == std::string::npos);
  CHECK(r.err.find(canary) == std::string::npos);
}

/// Refused: exit 1 with one "error: " line, or exit 2 with one usage error
/// line and the --help hint; nothing on stdout; stderr short and clean, not
/// echoing a long input.
void check_refused(const run_result& r, std::string_view input = {}) {
  INFO(show(r));
  CHECK((r.exit_code == 1 || r.exit_code == 2));
  CHECK(r.out.empty());
  const auto lines = kqt::lines_of(r.err);
  REQUIRE_FALSE(lines.empty());
  CHECK(r.err.back() == '\n');
  if (r.exit_code == 1) {
    CHECK(lines.size() == 1);
    CHECK(starts_with(lines[0], "error: "));
  } else {
    CHECK((starts_with(lines[0], "usage error: ") || starts_with(lines[0], "error: ")));
    CHECK(lines.size() <= 2);
    if (lines.size() == 2) CHECK(lines[1].find("--help") != std::string::npos);
  }
  CHECK(r.err.size() < 1500);
  CHECK(raw_control(r.err) == -1);
  if (input.size() > 300) CHECK(r.err.find(input.substr(0, 300)) == std::string::npos);
  check_no_canary(r);
}

/// A database file in a temporary directory with user u1 on free (one
/// message sent), and the binary pointed at it.
class cli {
 public:
  cli() : url_("sqlite:" + (dir_.path() / "quota.db").string()) {
    ok({"migrate"});
    ok({"user", "add", "u1"});
    ok({"consume", "u1", "--tokens", "7"});
  }

  const std::string& url() const { return url_; }
  std::filesystem::path db_path() const { return dir_.path() / "quota.db"; }

  run_result run(std::vector<std::string> args, const std::map<std::string, std::string>& env = {}) const {
    args.insert(args.begin(), {"--db", url_});
    return kqt::run_program(cli_path, args, env);
  }

  run_result ok(std::vector<std::string> args) const {
    run_result r = run(std::move(args));
    INFO(show(r));
    REQUIRE(r.exit_code == 0);
    return r;
  }

  json_value run_json(std::vector<std::string> args) const {
    args.insert(args.begin(), "--json");
    const run_result r = ok(std::move(args));
    INFO(show(r));
    auto parsed = kqt::try_parse_json(r.out);
    REQUIRE(parsed.has_value());
    return *parsed;
  }

  /// Quota, audit log, subscription of u1, the tiers and the schema, as
  /// printed with --json: equal before and after a refused command when
  /// nothing changed.
  std::string state() const { return u1_state() + capture({{"--json", "tiers", "--all"}}); }

  /// The same without the tiers.
  std::string u1_state() const {
    return capture({{"--json", "quota", "u1"},
                    {"--json", "events", "u1", "--limit", "10000"},
                    {"--json", "user", "show", "u1"},
                    {"--json", "schema"}});
  }

 private:
  std::string capture(const std::vector<std::vector<std::string>>& commands) const {
    std::string out;
    for (const auto& args : commands) {
      const run_result r = run(args);
      INFO(show(r));
      REQUIRE(r.exit_code == 0);
      out += r.out;
    }
    return out;
  }

  kqt::temp_dir dir_;
  std::string url_;
};

struct sample {
  std::string label;
  std::string value;
};

std::vector<sample> injection_payloads() {
  return {
      {"drop users", "'; DROP TABLE users; --"},
      {"or 1=1", "x' OR '1'='1"},
      {"delete usage_logs", "\"; DELETE FROM usage_logs; --"},
      {"Bobby Tables", "Robert'); DROP TABLE subscription_tiers;--"},
      {"backslashes", "\\\\server\\share\\"},
      {"positional parameter", "$1"},
      {"printf format", "%s%s%s%n"},
      {"fmt format", "{} {0} {:>1000000}"},
      {"literal \\x00", "\\x00"},
      {"LIKE any", "%"},
      {"LIKE one", "_"},
      {"shell", "$(touch /tmp/kq-hostile-pwned)`id`"},
      {"quotes", "'\"`"},
      {"typographic quotes", "\xE2\x80\x98\xE2\x80\x99\xE2\x80\x9C\xE2\x80\x9D"},
      {"emoji", "\xF0\x9F\x98\x80\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9"},
      {"Arabic", "\xD9\x85\xD8\xB3\xD8\xAA\xD8\xAE\xD8\xAF\xD9\x85"},
      {"Chinese", "\xE7\x94\xA8\xE6\x88\xB7\xE5\x90\x8D"},
      {"combining marks", "cafe\xCC\x81"},
  };
}

/// Values that are never a valid id, through argv (no NUL).
std::vector<sample> malformed_values() {
  return {
      {"ANSI escape", "\x1B[2J\x1B[31mred"},
      {"OSC title", "\x1B]0;pwned\x07"},
      {"carriage return", "u1\rforged"},
      {"DEL", "u1\x7F"},
      {"C1 CSI",
       "u1\xC2\x9B"
       "2J"},
      {"lone continuation byte",
       "\x80"
       "u1"},
      {"overlong slash", "u1\xC0\xAF"},
      {"surrogate", "u1\xED\xA0\x80"},
      {"128 KiB of 'a'", std::string(max_arg, 'a')},
      {"0xFF", "u1\xFF"},
      {"128 KiB of 0xFF", std::string(max_arg, '\xFF')},
  };
}

/// Storage URLs that must be refused, several carrying the password.
std::vector<std::string> hostile_urls() {
  return {
      "",
      "mysql://x",
      "mysql://user:S3cretCanary@127.0.0.1/db",
      "sqlite:",
      "sqlite://",
      "file:///etc/passwd",
      "'; DROP TABLE users; --",
      "\x1B]0;pwned\x07",
      "sqlite:/nonexistent-dir/\xFF.db",
      "postgresql://user:S3cretCanary@127.0.0.1:1/db",
      "postgresql://user:S3cretCanary@127.0.0.1:1/db?connect_timeout=2",
      "postgres://user:S3cretCanary@[::1]:1/db",
      "postgresql://user:S3cretCanary@[::1",
      "postgresql://user:S3cretCanary@127.0.0.1:notaport/db",
      "postgresql://user:S3cretCanary@127.0.0.1:1/db?bogus=1",
      "postgresql://user:S3cretCanary@127.0.0.1:1/db?sslmode=bogus",
      "postgresql://127.0.0.1:1/db?password=S3cretCanary",
      "postgresql://127.0.0.1:1/db?password=S3cretCanary&bogus=1",
      "postgresql://127.0.0.1:1/db?password=S3cretCanary%",
      "postgresql://user:S3cretCanary%zz@127.0.0.1:1/db",
      "host=127.0.0.1 port=1 password=S3cretCanary dbname=x",
      "host=127.0.0.1 port=1 password='S3cretCanary' dbname=x bogus=1",
      "host=127.0.0.1 port=1 password='S3cretCanary dbname=x",
      "password=S3cretCanary host=127.0.0.1 port=1 dbname",
      "host=127.0.0.1 port=notaport password=S3cretCanary",
      // A password with a space that was not quoted: libpq reads its second
      // half as a keyword without "=".
      "host=127.0.0.1 port=1 password=Pre S3cretCanary dbname=x",
      // A password with a '/' that was not percent-encoded: libpq reads the
      // user info as host:port.
      "postgresql://user:S3cretCanary/x@127.0.0.1:1/db",
      "postgresql://user:S3cretCanary@127.0.0.1:1/" + std::string(4000, 'd'),
      "postgresql://user:S3cretCanary@127.0.0.1:1/db?application_name=\x1B[2J",
  };
}

/// Commands tried with each hostile URL: readers that never create a file.
std::vector<std::vector<std::string>> url_commands() {
  return {{"quota", "u1"}, {"--json", "tiers"}, {"schema"}, {"consume", "u1"}};
}

}  // namespace

TEST_SUITE("kauri-quota") {
  TEST_CASE("hostile: injection, quote and Unicode user ids are accepted by the CLI and round-trip through --json") {
    cli c;
    const std::string before = c.state();
    const std::string schema_before = schema_sql(c.db_path());
    REQUIRE(schema_before.find("CREATE TABLE") != std::string::npos);
    for (const auto& p : injection_payloads()) {
      INFO("user id: " << p.label << " = " << printable(p.value));
      const json_value added = c.run_json({"user", "add", p.value, "--tier", "pro", "--email", p.value});
      CHECK(added["user_id"].as_string() == p.value);
      CHECK(added["email"].as_string() == p.value);
      const json_value d =
          c.run_json({"consume", p.value, "--tokens", "3", "--request-id", p.value, "--user-agent", p.value});
      CHECK(d["allowed"].as_bool());
      CHECK(d["quota"]["user_id"].as_string() == p.value);
      const json_value q = c.run_json({"quota", p.value});
      CHECK(q["user_id"].as_string() == p.value);
      CHECK(q["messages_today"].as_int() == 1);
      const json_value events = c.run_json({"events", p.value});
      REQUIRE(events.size() >= 2);
      for (std::size_t i = 0; i < events.size(); ++i) CHECK(events[i]["user_id"].as_string() == p.value);
      CHECK(events[0]["user_agent"].as_string() == p.value);
      const run_result human = c.ok({"quota", p.value});
      CHECK(raw_control(human.out) == -1);
    }
    // Ids that look like options are ids after "--".
    for (const std::string id : {"--help", "--db=sqlite:/tmp/kq-hostile-other.db", "-x"}) {
      INFO("user id " << id);
      c.ok({"user", "add", "--", id});
      const json_value q = c.run_json({"quota", "--", id});
      CHECK(q["user_id"].as_string() == id);
    }
    CHECK_FALSE(std::filesystem::exists("/tmp/kq-hostile-other.db"));
    CHECK_FALSE(std::filesystem::exists("/tmp/kq-hostile-pwned"));
    CHECK(c.state() == before);
    CHECK(c.run_json({"tiers", "--all"}).size() == 4);
    CHECK(schema_sql(c.db_path()) == schema_before);
  }

  TEST_CASE("hostile: malformed arguments in every position are refused with one clean error line and change nothing") {
    cli c;
    c.ok({"user", "add", "ent", "--tier", "enterprise"});
    const std::string res = c.run_json({"reserve", "ent", "--tokens", "5"})["reservation_id"].as_string();
    REQUIRE_FALSE(res.empty());
    const std::string before = c.state();
    const std::string ent_before = c.run({"--json", "quota", "ent"}).out;
    const std::string schema_before = schema_sql(c.db_path());

    const auto values = malformed_values();
    for (std::size_t i = 0; i < values.size(); ++i) {
      const auto& v = values[i];
      INFO("value: " << v.label << " = " << printable(v.value));
      const std::string& x = v.value;
      // Every value as a new user's id and as a reservation id ...
      check_refused(c.run({"user", "add", x}), x);
      check_refused(c.run({"release", x}), x);
      // ... and, to keep the run short, every other value in every other
      // position (each kind of damage is still tried in each position).
      if (i % 2 == 1) continue;
      // Identifiers and tier ids: always refused.
      const std::vector<std::vector<std::string>> ids{
          {"user", "show", x},
          {"check", x},
          {"consume", x},
          {"record", x},
          {"reserve", x},
          {"quota", x},
          {"stats", x},
          {"events", x},
          {"upgrade", x, "pro"},
          {"reset", "daily", "--user", x},
          {"consume", "u1", "--request-id", x},
          {"record", "u1", "--request-id", x},
          {"reserve", "u1", "--request-id", x},
          {"upgrade", "u1", x},
          {"user", "add", "newcomer", "--tier", x},
          {"tier", x},
          {"tier", "set", x, "--daily", "1"},
          {"commit", x, "--tokens", "1"},
      };
      for (const auto& args : ids) {
        INFO("command: " << args[0] << " " << printable(args[1], 20));
        check_refused(c.run(args), x);
      }
    }
    CHECK(c.state() == before);
    CHECK(c.run({"--json", "quota", "ent"}).out == ent_before);
    CHECK_FALSE(c.run({"user", "show", "newcomer"}).exit_code == 0);
    CHECK(schema_sql(c.db_path()) == schema_before);
  }

  TEST_CASE("hostile: malformed free text (ip, user agent, email, tier name, event type) is refused or kept verbatim") {
    cli c;
    c.ok({"user", "add", "ent", "--tier", "enterprise"});
    const std::string before = c.u1_state();
    const auto values = malformed_values();
    for (std::size_t i = 0; i < values.size(); ++i) {
      const auto& v = values[i];
      INFO("value: " << v.label << " = " << printable(v.value));
      const std::string& x = v.value;
      // Not valid UTF-8, or far too long for any of these fields: refused.
      const bool must_refuse = !kqt::valid_utf8(x) || x.size() > 4096;

      const run_result ip = c.run({"consume", "ent", "--ip", x});
      const run_result agent = c.run({"consume", "ent", "--user-agent", x});
      const std::string newcomer = "newcomer-" + std::to_string(i);
      const run_result email = c.run({"user", "add", newcomer, "--email", x});
      const run_result name = c.run({"tier", "set", "max", "--name", x});
      const run_result type = c.run({"events", "ent", "--type", x});
      for (const run_result* r : {&ip, &agent, &email, &name, &type}) {
        INFO(show(*r));
        if (must_refuse) CHECK(r->exit_code != 0);
        if (r->exit_code != 0) check_refused(*r, x);
        check_no_canary(*r);
      }
      if (ip.exit_code == 0) CHECK(c.run_json({"events", "ent", "--limit", "1"})[0]["request_ip"].as_string() == x);
      if (agent.exit_code == 0) CHECK(c.run_json({"events", "ent", "--limit", "1"})[0]["user_agent"].as_string() == x);
      if (email.exit_code == 0) {
        CHECK(c.run_json({"user", "show", newcomer})["email"].as_string() == x);
      } else {
        CHECK(c.run({"user", "show", newcomer}).exit_code != 0);  // the refused add created nothing
      }
      if (name.exit_code == 0) CHECK(c.run_json({"tier", "max"})["name"].as_string() == x);
      if (type.exit_code == 0) CHECK(c.run_json({"events", "ent", "--type", x}).size() == 0);
    }
    // u1, the schema and the other tiers are untouched.
    CHECK(c.u1_state() == before);
    const json_value tiers = c.run_json({"tiers", "--all"});
    REQUIRE(tiers.size() == 4);
    CHECK(tiers[0]["name"].as_string() == "Free");
    CHECK(tiers[1]["name"].as_string() == "Pro");
    CHECK(tiers[3]["name"].as_string() == "Enterprise");
    CHECK(c.run_json({"quota", "u1"})["messages_today"].as_int() == 1);
  }

  TEST_CASE("hostile: the arguments of one command may add up to 1 MB and are still refused briefly") {
    cli c;
    const std::string before = c.state();
    std::vector<std::string> args{"consume"};
    for (int i = 0; i < 8; ++i) args.push_back(std::string(max_arg, static_cast<char>('a' + i)));
    const run_result r = c.run(args);
    check_refused(r, args[1]);
    const run_result big_user = c.run({"consume", "u1", "--user-agent", std::string(max_arg, 'U')});
    check_refused(big_user, std::string(max_arg, 'U'));
    CHECK(c.state() == before);
  }

  TEST_CASE("hostile: unknown users, tiers and reservations get one clean error line and change nothing") {
    cli c;
    const std::string before = c.state();
    const std::vector<std::vector<std::string>> commands{
        {"upgrade", "u1", "gold"},
        {"upgrade", "u1", "'; DROP TABLE subscription_tiers; --"},
        {"user", "add", "newcomer", "--tier", "gold"},
        {"user", "add", "newcomer", "--tier", "x' OR '1'='1"},
        {"tier", "gold"},
        {"tier", "PRO"},
        {"tier", "pro'--"},
        {"tier", "set", "gold", "--daily", "1"},
        {"tier", "set", "free' OR '1'='1", "--daily", "1"},
        {"commit", "r_00000000000000000000000000000000", "--tokens", "1"},
        {"commit", "'; DROP TABLE users; --", "--tokens", "1"},
        {"release", "x' OR '1'='1"},
        {"release", "%"},
        {"consume", "ghost"},
        {"consume", "x' OR '1'='1"},
        {"quota", "%"},
        {"upgrade", "_", "pro"},
        {"user", "show", "' OR 1=1 --"},
        {"reset", "daily", "--user", "x' OR '1'='1"},
    };
    for (const auto& args : commands) {
      INFO("command: " << printable(args[0] + " " + args[1] + " " + (args.size() > 2 ? args[2] : "")));
      const run_result r = c.run(args);
      if (args[0] == "reset") {
        // An administrative reset of nobody may succeed, touching no one.
        if (r.exit_code == 0) {
          const auto j = c.run_json({"reset", "daily", "--user", args[3]});
          CHECK(j["users_touched"].as_int() == 0);
        } else {
          check_refused(r, "");
        }
      } else {
        check_refused(r, "");
      }
    }
    CHECK_FALSE(c.run({"user", "show", "newcomer"}).exit_code == 0);
    CHECK(c.state() == before);
  }

  TEST_CASE("hostile: negative, huge and overflowing numbers are refused and change nothing") {
    cli c;
    c.ok({"user", "add", "ent", "--tier", "enterprise"});
    const std::string res = c.run_json({"reserve", "ent", "--tokens", "5"})["reservation_id"].as_string();
    REQUIRE_FALSE(res.empty());
    const std::string before = c.state();
    const std::string ent_before = c.run({"--json", "quota", "ent"}).out;
    const std::vector<std::string> numbers{"-1",
                                           "-9223372036854775808",
                                           "9223372036854775807",
                                           "9223372036854775808",
                                           "99999999999999999999999999999999",
                                           "1000000000001",
                                           "1e3",
                                           "0x10",
                                           " 5",
                                           "5;DROP TABLE users",
                                           "\xD9\xA1\xD9\xA2",  // Arabic-Indic digits
                                           "",
                                           std::string(max_arg, '9')};
    for (const auto& n : numbers) {
      INFO("number: " << printable(n));
      const std::vector<std::vector<std::string>> commands{
          {"consume", "ent", "--tokens", n},
          {"record", "ent", "--messages", n},
          {"record", "ent", "--tokens", n},
          {"reserve", "ent", "--tokens", n},
          {"commit", res, "--tokens", n},
          {"events", "u1", "--limit", n},
          {"tier", "set", "pro", "--daily", n},
          {"tier", "set", "pro", "--monthly", n},
          {"tier", "set", "pro", "--tokens", n},
          {"tier", "set", "pro", "--price", n},
          {"migrate", "--to", n},
          {"migrate", "--down", n},
      };
      for (const auto& args : commands) {
        INFO("command: " << args[0] << " " << args[1] << " " << args[2]);
        check_refused(c.run(args), n);
      }
    }
    CHECK(c.state() == before);
    CHECK(c.run({"--json", "quota", "ent"}).out == ent_before);

    // Near the bound: 10^12 is reachable, one more is refused.
    c.ok({"record", "ent", "--messages", "0", "--tokens", "999999999994"});  // + the 5 reserved
    c.ok({"record", "ent", "--messages", "0", "--tokens", "1"});
    const std::string at_bound = c.run({"--json", "quota", "ent"}).out;
    check_refused(c.run({"record", "ent", "--messages", "0", "--tokens", "1"}));
    check_refused(c.run({"commit", res, "--tokens", "1000000000000"}));
    check_refused(c.run({"consume", "ent", "--tokens", "1"}));
    check_refused(c.run({"reserve", "ent", "--tokens", "1"}));
    CHECK(c.run({"--json", "quota", "ent"}).out == at_bound);
    CHECK(c.run_json({"quota", "ent"})["tokens_this_month"].as_int() == 1000000000000);
  }

  TEST_CASE("hostile: bad --tz values are refused and change nothing") {
    cli c;
    const std::string before = c.state();
    std::vector<std::string> zones{"",
                                   "'; DROP TABLE users; --",
                                   "UTC'; DROP TABLE users; --",
                                   "Mars/Olympus_Mons",
                                   "../../../../etc/passwd",
                                   "/etc/localtime",
                                   "/usr/share/zoneinfo/UTC",
                                   "Europe/../UTC",
                                   "localtime",
                                   "UTC ",
                                   " UTC",
                                   "Etc/UTC\n",
                                   "\x1B]0;pwned\x07",
                                   "Europe/P\xC3\xA4ris",
                                   "Europe/Paris\xFF",
                                   "%s%n",
                                   "$TZ",
                                   "UTC+25",
                                   "EST5EDT,M3.2.0,M11.1.0",
                                   std::string(max_arg, 'Z')};
    for (const auto& z : zones) {
      INFO("time zone: " << printable(z));
      check_refused(c.run({"--tz", z, "consume", "u1"}), z);
      check_refused(c.run({"quota", "u1", "--tz", z}), z);
    }
    CHECK(c.state() == before);
    c.ok({"--tz", "America/Argentina/Buenos_Aires", "quota", "u1"});
  }

  TEST_CASE("hostile: malformed and password-bearing --db URLs are refused without echoing the password") {
    cli c;
    const std::string before = c.state();
    for (const auto& url : hostile_urls()) {
      for (const auto& cmd : url_commands()) {
        INFO("--db " << printable(url) << " " << cmd[0]);
        std::vector<std::string> args{"--db", url};
        args.insert(args.end(), cmd.begin(), cmd.end());
        check_refused(kqt::run_program(cli_path, args), url);
      }
      if (url.rfind("sqlite:", 0) != 0) {
        // migrate may create: only for URLs that name no SQLite file.
        INFO("--db " << printable(url) << " migrate");
        check_refused(kqt::run_program(cli_path, {"--json", "--db", url, "migrate"}), url);
      }
    }
    CHECK(c.state() == before);
    CHECK_FALSE(std::filesystem::exists("/nonexistent-dir"));
  }

  TEST_CASE("hostile: malformed and password-bearing KAURI_QUOTA_DB values are refused without echoing the password") {
    cli c;
    const std::string before = c.state();
    // An empty KAURI_QUOTA_DB means "not set": the default file in the
    // current directory, which these commands never create.
    for (const auto& url : hostile_urls()) {
      for (const auto& cmd : url_commands()) {
        INFO("KAURI_QUOTA_DB=" << printable(url) << " " << cmd[0]);
        check_refused(kqt::run_program(cli_path, cmd, {{"KAURI_QUOTA_DB", url}}), url);
      }
    }
    // --db wins over the variable, and the variable's password is not shown.
    const std::map<std::string, std::string> env{{"KAURI_QUOTA_DB", "postgresql://user:S3cretCanary@127.0.0.1:1/db"}};
    for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
             {"--db", c.url(), "schema"}, {"--db", c.url(), "--json", "schema"}, {"--db", c.url(), "quota", "u1"}}) {
      const run_result r = kqt::run_program(cli_path, args, env);
      INFO(show(r));
      CHECK(r.exit_code == 0);
      check_no_canary(r);
    }
    CHECK(c.state() == before);
  }

  TEST_CASE("hostile: stored text with control characters is never written raw to the human views") {
    cli c;
    const std::string esc = "\x1B]0;pwned\x07\x1B[2J";
    // The library may refuse control characters in free text; whatever it
    // stores, the human views must escape.
    const run_result email = c.run({"user", "add", "victim", "--email", "mail" + esc});
    const run_result name = c.run({"tier", "set", "max", "--name", "Max" + esc, "--name-fr", "a\rb"});
    const run_result agent = c.run({"consume", "u1", "--user-agent", "agent" + esc});
    for (const run_result* r : {&email, &name, &agent}) {
      INFO(show(*r));
      CHECK(raw_control(r->out) == -1);
      if (r->exit_code != 0) check_refused(*r);
    }
    if (email.exit_code == 0) {
      CHECK(c.run_json({"user", "show", "victim"})["email"].as_string() == "mail" + esc);
    }
    if (name.exit_code == 0) {
      CHECK(c.run_json({"tier", "max"})["name"].as_string() == "Max" + esc);
      const run_result up = c.run({"upgrade", "u1", "max"});  // "upgraded from Free to <name>"
      INFO(show(up));
      CHECK(up.exit_code == 0);
      CHECK(raw_control(up.out) == -1);
    }
    const std::vector<std::vector<std::string>> views{
        {"user", "show", "victim"}, {"tiers"}, {"tier", "max"}, {"quota", "u1"}, {"stats", "u1"}, {"events", "u1"},
        {"user", "show", "u1"}};
    for (const auto& args : views) {
      if (args.size() == 3 && args[2] == "victim" && email.exit_code != 0) continue;
      const run_result r = c.run(args);
      INFO(args[0] << " " << (args.size() > 1 ? args[1] : "") << "\n" << show(r));
      CHECK(r.exit_code == 0);
      CHECK_MESSAGE(raw_control(r.out) == -1, "raw control byte " << raw_control(r.out) << " on stdout");
      CHECK(raw_control(r.err) == -1);
    }
  }

}  // TEST_SUITE
