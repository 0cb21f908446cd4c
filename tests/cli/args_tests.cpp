// The kauri-quota argument parser, tested as the pure function it is.

#include "args.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace {

namespace cli = kauri_quota_cli;

cli::command parsed(const std::vector<std::string>& args) {
  auto r = cli::parse_args(args);
  if (const auto* e = std::get_if<cli::usage_error>(&r)) FAIL("unexpected usage error: " << e->message);
  return std::get<cli::command>(r);
}

std::string usage_error_of(const std::vector<std::string>& args) {
  auto r = cli::parse_args(args);
  const auto* e = std::get_if<cli::usage_error>(&r);
  REQUIRE_MESSAGE(e != nullptr, "expected a usage error");
  CHECK(e->message.find('\n') == std::string::npos);
  return e->message;
}

std::int64_t count_of(std::string_view text) {
  auto r = cli::parse_count(text, "--n");
  REQUIRE(std::holds_alternative<std::int64_t>(r));
  return std::get<std::int64_t>(r);
}

std::string count_error(std::string_view text) {
  auto r = cli::parse_count(text, "--n");
  REQUIRE(std::holds_alternative<std::string>(r));
  return std::get<std::string>(r);
}

}  // namespace

TEST_SUITE("kauri-quota arguments") {
  TEST_CASE("counts are digits only, without sign, and may not overflow") {
    CHECK(count_of("0") == 0);
    CHECK(count_of("42") == 42);
    CHECK(count_of("007") == 7);
    CHECK(count_of("9223372036854775807") == std::numeric_limits<std::int64_t>::max());
    CHECK(count_error("-5").find("must not be negative") != std::string::npos);
    CHECK(count_error("9223372036854775808").find("too large") != std::string::npos);
    CHECK(count_error("99999999999999999999999").find("too large") != std::string::npos);
    CHECK(count_error("").find("empty") != std::string::npos);
    for (const char* bad : {"+5", " 5", "5 ", "5x", "0x10", "1e3", "1.0", "-", "--5", "٣"}) {
      CAPTURE(bad);
      CHECK(count_error(bad).find("digits only") != std::string::npos);
    }
  }

  TEST_CASE("global options are accepted before and after the command") {
    const cli::command a = parsed({"--db", "sqlite:a.db", "--json", "consume", "u1"});
    CHECK(a.kind == cli::command_kind::consume);
    CHECK(a.global.db == "sqlite:a.db");
    CHECK(a.global.json);
    CHECK(a.user == "u1");

    const cli::command b = parsed({"consume", "u1", "--tz=Africa/Abidjan", "--db=sqlite:b.db"});
    CHECK(b.global.tz == "Africa/Abidjan");
    CHECK(b.global.db == "sqlite:b.db");
    CHECK_FALSE(b.global.json);
  }

  TEST_CASE("each command takes its arguments and options") {
    const cli::command consume =
        parsed({"consume", "u1", "--tokens", "12", "--request-id", "r1", "--ip", "::1", "--user-agent", "x"});
    CHECK(consume.tokens == 12);
    CHECK(consume.request_id == "r1");
    CHECK(consume.ip == "::1");
    CHECK(consume.user_agent == "x");

    const cli::command set = parsed({"tier", "set", "pro", "--daily", "null", "--monthly", "10", "--tokens", "null",
                                     "--visible", "false", "--order", "3", "--price", "7000"});
    CHECK(set.kind == cli::command_kind::tier_set);
    CHECK(set.tier == "pro");
    REQUIRE(set.daily.has_value());
    CHECK_FALSE(set.daily->has_value());
    CHECK(set.monthly == cli::nullable_count{10});
    REQUIRE(set.tokens_limit.has_value());
    CHECK_FALSE(set.tokens_limit->has_value());
    CHECK(set.visible == false);
    CHECK(set.order == 3);
    CHECK(set.price == 7000);

    CHECK(parsed({"tier", "pro"}).kind == cli::command_kind::tier_show);
    CHECK(parsed({"user", "add", "u1", "--tier", "max"}).new_user_tier == "max");
    CHECK(parsed({"user", "show", "u1"}).kind == cli::command_kind::user_show);
    CHECK(parsed({"commit", "res-1", "--tokens", "5"}).reservation == "res-1");
    CHECK(parsed({"upgrade", "u1", "pro"}).tier == "pro");
    CHECK(parsed({"reset", "monthly", "--user", "u1"}).reset_monthly);
    CHECK(parsed({"reset", "daily"}).reset_user == std::nullopt);
    CHECK(parsed({"migrate", "--down", "2"}).migrate_down == 2);
    CHECK(parsed({"events", "u1", "--limit", "5", "--type", "message_sent"}).limit == 5);
    CHECK(parsed({"demo", "--keep"}).keep);
    CHECK(parsed({"consume", "u1", "--help"}).kind == cli::command_kind::help);
    CHECK(parsed({"--version"}).kind == cli::command_kind::version);
  }

  TEST_CASE("expire takes the request-id TTL as a duration with a unit, or forever") {
    using std::chrono::seconds;
    CHECK_FALSE(parsed({"expire"}).request_id_ttl.has_value());
    CHECK(parsed({"expire", "--request-id-ttl", "90s"}).request_id_ttl == std::optional<seconds>{seconds{90}});
    CHECK(parsed({"expire", "--request-id-ttl", "90m"}).request_id_ttl == std::optional<seconds>{seconds{5400}});
    CHECK(parsed({"expire", "--request-id-ttl", "36h"}).request_id_ttl == std::optional<seconds>{seconds{129600}});
    CHECK(parsed({"expire", "--request-id-ttl=7d"}).request_id_ttl == std::optional<seconds>{seconds{604800}});
    const auto forever = parsed({"expire", "--request-id-ttl", "forever"}).request_id_ttl;
    REQUIRE(forever.has_value());
    CHECK_FALSE(forever->has_value());
    for (const char* bad : {"", "7", "d", "7w", "-1d", "+1d", "1.5h", "7 d", "Forever", "99999999999999999d"}) {
      CAPTURE(bad);
      CHECK(usage_error_of({"expire", "--request-id-ttl", bad}).find("expected a duration") != std::string::npos);
    }
    CHECK(usage_error_of({"consume", "u1", "--request-id-ttl", "7d"}).find("does not apply") != std::string::npos);
  }

  TEST_CASE("prune needs --before as a real YYYY-MM-DD day and takes --batch") {
    using namespace std::chrono;
    const auto p = parsed({"prune", "--before", "2025-10-01"});
    CHECK(p.kind == cli::command_kind::prune);
    CHECK(p.before == std::optional<year_month_day>{2025y / October / 1d});
    CHECK_FALSE(p.batch.has_value());
    CHECK(parsed({"prune", "--before=2024-02-01", "--batch", "100", "--json"}).batch == 100);
    // The month rule is the library's (one message, one place): a day
    // inside a month parses.
    CHECK(parsed({"prune", "--before", "2025-10-15"}).before == std::optional<year_month_day>{2025y / October / 15d});
    CHECK(usage_error_of({"prune"}).find("--before") != std::string::npos);
    for (const char* bad : {"", "2025-10", "2025-10-1", "2025/10/01", "2025-13-01", "2025-02-30", "+025-10-01",
                            "2025-10-01T00:00", "20251001", "2025-1a-01"}) {
      CAPTURE(bad);
      CHECK(usage_error_of({"prune", "--before", bad}).find("expected a day as YYYY-MM-DD") != std::string::npos);
    }
    CHECK(usage_error_of({"prune", "--before", "2025-10-01", "--batch", "-1"}).find("--batch") != std::string::npos);
    CHECK(usage_error_of({"prune", "--before", "2025-10-01", "u1"}).find("u1") != std::string::npos);
    CHECK(usage_error_of({"consume", "u1", "--before", "2025-10-01"}).find("does not apply") != std::string::npos);
  }

  TEST_CASE("-- ends the options so that arguments may start with a dash") {
    const cli::command c = parsed({"consume", "--", "-odd-user"});
    CHECK(c.user == "-odd-user");
    usage_error_of({"consume", "-odd-user"});
  }

  TEST_CASE("malformed command lines are usage errors") {
    CHECK(usage_error_of({}).find("no command") != std::string::npos);
    CHECK(usage_error_of({"frobnicate"}).find("unknown command") != std::string::npos);
    CHECK(usage_error_of({"consume"}).find("missing USER") != std::string::npos);
    CHECK(usage_error_of({"upgrade", "u1"}).find("missing TIER") != std::string::npos);
    CHECK(usage_error_of({"consume", "u1", "u2"}).find("unexpected argument") != std::string::npos);
    CHECK(usage_error_of({"consume", "u1", "--bogus"}).find("unknown option") != std::string::npos);
    CHECK(usage_error_of({"check", "u1", "--tokens", "1"}).find("does not apply") != std::string::npos);
    CHECK(usage_error_of({"consume", "u1", "--tokens"}).find("needs a value") != std::string::npos);
    CHECK(usage_error_of({"consume", "u1", "--tokens", "1", "--tokens", "2"}).find("twice") != std::string::npos);
    CHECK(usage_error_of({"--json=yes", "tiers"}).find("takes no value") != std::string::npos);
    CHECK(usage_error_of({"migrate", "--to", "1", "--down", "1"}).find("not both") != std::string::npos);
    CHECK(usage_error_of({"migrate", "--to", "99999999999"}).find("too large") != std::string::npos);
    CHECK(usage_error_of({"commit", "r1"}).find("--tokens") != std::string::npos);
    CHECK(usage_error_of({"tier", "set", "pro"}).find("at least one") != std::string::npos);
    CHECK(usage_error_of({"tier", "set", "pro", "--order", "2147483648"}).find("too large") != std::string::npos);
    CHECK(usage_error_of({"tier", "set", "pro", "--visible", "yes"}).find("true or false") != std::string::npos);
    CHECK(usage_error_of({"reset"}).find("daily or monthly") != std::string::npos);
    CHECK(usage_error_of({"user"}).find("add, show or zone") != std::string::npos);
    CHECK(usage_error_of({"consume", "u1", "--tokens", "null"}).find("digits only") != std::string::npos);
  }

  TEST_CASE("usage errors never echo a long or unprintable argument in full") {
    const std::string long_arg(300, 'z');
    CHECK(usage_error_of({long_arg}).size() < 120);
    const std::string message = usage_error_of({"bad\ncommand\x01\xff"});
    CHECK(message.find('\n') == std::string::npos);
    CHECK(message.find("\\n") != std::string::npos);
    CHECK(message.find("\\x01") != std::string::npos);
    CHECK(message.find("\\xff") != std::string::npos);
  }

  TEST_CASE("printable cuts at a character boundary and escapes what cannot be shown") {
    CHECK(cli::printable("plain") == "plain");
    CHECK(cli::printable("é€😀") == "é€😀");
    CHECK(cli::printable(std::string(50, 'a')) == std::string(40, 'a') + "…");
    // A 2-byte character that would straddle the cut is kept whole.
    const std::string s = std::string(39, 'a') + "éé";
    CHECK(cli::printable(s) == std::string(39, 'a') + "é…");
    CHECK(cli::printable("\xc0\xaf") == "\\xc0\\xaf");           // overlong
    CHECK(cli::printable("\xed\xa0\x80") == "\\xed\\xa0\\x80");  // surrogate
    CHECK(cli::printable("\xc2\x85") == "\\x85");                // C1 control
    CHECK(cli::printable("a\tb\x7f") == "a\\tb\\x7f");
  }

}  // TEST_SUITE

TEST_CASE("the subscription commands take their arguments and options") {
  const auto trial = parsed({"trial", "u1", "pro", "--length", "7d"});
  CHECK(trial.kind == cli::command_kind::trial);
  CHECK(trial.user == "u1");
  CHECK(trial.tier == "pro");
  CHECK(trial.trial_length == std::chrono::hours{24 * 7});
  CHECK(parsed({"trial", "u1", "pro"}).trial_length == std::chrono::hours{24 * 14});

  const auto pay = parsed({"pay", "u1", "pro", "--amount", "21000", "--months", "3", "--transaction-id", "R-1",
                           "--provider", "bank", "--reset-usage", "--currency", "XAF", "--grace", "36h"});
  CHECK(pay.kind == cli::command_kind::pay);
  CHECK(pay.amount == 21000);
  CHECK(pay.months == 3);
  CHECK(pay.transaction_id == "R-1");
  CHECK(pay.provider == "bank");
  CHECK(pay.reset_usage);
  CHECK(pay.global.currency == "XAF");
  CHECK(pay.global.grace == std::chrono::hours{36});
  CHECK(usage_error_of({"pay", "u1", "pro", "--transaction-id", "R-1"}).find("--amount") != std::string::npos);
  CHECK(usage_error_of({"pay", "u1", "pro", "--amount", "7000"}).find("--transaction-id") != std::string::npos);
  CHECK(usage_error_of({"pay", "u1", "pro", "--amount", "7000", "--transaction-id", "x", "--months", "0x1"})
            .find("--months") != std::string::npos);

  CHECK(parsed({"cancel", "u1"}).kind == cli::command_kind::cancel);
  CHECK(parsed({"cancel", "u1", "--undo"}).undo);
  CHECK(parsed({"schedule", "u1", "free"}).tier == "free");
  CHECK(usage_error_of({"schedule", "u1"}).find("TIER") != std::string::npos);
  CHECK(parsed({"payments", "u1"}).kind == cli::command_kind::payments);

  const auto h = parsed({"history", "u1", "--from", "2026-11-01", "--to", "2026-11-30", "--by-month"});
  CHECK(h.kind == cli::command_kind::history);
  CHECK(h.from == "2026-11-01");
  CHECK(h.to == "2026-11-30");
  CHECK(h.by_month);
  CHECK_FALSE(h.migrate_to.has_value());

  const auto z = parsed({"user", "zone", "u1", "Africa/Douala"});
  CHECK(z.kind == cli::command_kind::user_zone);
  CHECK(z.zone == "Africa/Douala");
  CHECK(usage_error_of({"user", "zone", "u1"}).find("ZONE") != std::string::npos);

  CHECK(usage_error_of({"--grace", "3 days", "quota", "u1"}).find("--grace") != std::string::npos);
  CHECK(usage_error_of({"trial", "u1", "pro", "--length", "7w"}).find("--length") != std::string::npos);
  CHECK(usage_error_of({"upgrade", "u1", "pro", "--undo"}).find("does not apply") != std::string::npos);
}
