// Bad input through the public API: invalid_argument (or unknown_user /
// unknown_tier) with a clear message, and nothing changed.
#include "support/fixtures.hpp"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

using namespace kauri_quota;
using namespace kauri_quota::testing;
using namespace std::chrono_literals;

namespace {

struct bad_id {
  const char* what;
  std::string value;
};

std::vector<bad_id> bad_user_ids() {
  return {
      {"empty", ""},
      {"129 bytes", std::string(129, 'a')},
      {"invalid UTF-8 (lone continuation bytes)", "user\xff\xfe"},
      {"invalid UTF-8 (truncated sequence)", "user\xc3"},
      {"invalid UTF-8 (overlong '/')", "user\xc0\xaf"},
      {"invalid UTF-8 (surrogate)", "user\xed\xa0\x80"},
      {"control character U+0001", "bad\x01id"},
      {"control character DEL (U+007F)", "bad\x7fid"},
      {"C1 control character U+0085", "bad\xc2\x85id"},
      {"newline", "bad\nid"},
      {"NUL byte inside", std::string("bad\0id", 6)},
  };
}

/// What must not change when a call is refused.
struct observed {
  quota_info quota;
  std::size_t events = 0;
  subscription sub;
};

observed observe(service_fixture& f, const user_id& u) {
  return {f.quota(u), f.events(u).size(), must(f.svc.get_subscription(u))};
}

void check_unchanged(service_fixture& f, const user_id& u, const observed& before) {
  const auto after = observe(f, u);
  CHECK(after.quota == before.quota);
  CHECK(after.events == before.events);
  CHECK(after.sub == before.sub);
}

}  // namespace

TEST_CASE("malformed user ids are invalid_argument everywhere and create nothing") {
  service_fixture f;
  const auto good = f.add_user("alice");
  REQUIRE(f.consume(good).allowed);
  const auto before = observe(f, good);
  for (const auto& bad : bad_user_ids()) {
    INFO("user id: " << bad.what);
    const user_id u{bad.value};
    check_error(f.svc.create_user(u), errc::invalid_argument);
    check_error(f.svc.get_subscription(u), errc::invalid_argument);
    check_error(f.svc.try_consume(u), errc::invalid_argument);
    check_error(f.svc.reserve(u, 1), errc::invalid_argument);
    check_error(f.svc.increment_usage(u, 1, 1), errc::invalid_argument);
    check_error(f.svc.get_user_quota_info(u), errc::invalid_argument);
    check_error(f.svc.get_usage_stats(u), errc::invalid_argument);
    check_error(f.svc.can_send_message(u), errc::invalid_argument);
    check_error(f.svc.get_or_create_usage(u), errc::invalid_argument);
    check_error(f.svc.upgrade_subscription(u, tier_id{"pro"}), errc::invalid_argument);
    check_error(f.svc.assign_default_subscription(u), errc::invalid_argument);
    check_error(f.svc.reset_daily_quotas(u), errc::invalid_argument);
    check_error(f.svc.log_usage_event(u, "note", 0, 0), errc::invalid_argument);
  }
  check_unchanged(f, good, before);
  f.check_audit(good);
}

TEST_CASE("user ids of 128 bytes and of multi-byte UTF-8 are accepted") {
  service_fixture f;
  const auto longest = f.add_user(std::string(128, 'x'));
  CHECK(f.consume(longest).allowed);
  const auto accented = f.add_user("utilisatrice-\xc3\xa9l\xc3\xa9onore-\xe2\x82\xac-\xf0\x9f\x98\x80");
  CHECK(f.consume(accented).allowed);
  CHECK(must(f.svc.get_subscription(accented)).user == accented);
  f.check_audit(longest);
  f.check_audit(accented);
}

TEST_CASE("negative token and message counts are invalid_argument and change nothing") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto res = must(f.svc.reserve(u, 10));
  REQUIRE(res.reservation.has_value());
  const auto before = observe(f, u);
  check_error(f.svc.try_consume(u, -1), errc::invalid_argument);
  check_error(f.svc.reserve(u, -1), errc::invalid_argument);
  check_error(f.svc.increment_usage(u, -1, 0), errc::invalid_argument);
  check_error(f.svc.increment_usage(u, 0, -1), errc::invalid_argument);
  check_error(f.svc.commit(*res.reservation, -1), errc::invalid_argument);
  check_unchanged(f, u, before);
  CHECK(must(f.svc.get_reservation(*res.reservation)).state == reservation_state::open);
  f.check_audit(u);
}

TEST_CASE("token and message counts above 10^12 are invalid_argument and change nothing") {
  service_fixture f;
  const auto u = f.add_user("big-corp", "enterprise");
  const auto res = must(f.svc.reserve(u, 10));
  REQUIRE(res.reservation.has_value());
  const auto before = observe(f, u);
  constexpr std::int64_t too_many = 1'000'000'000'001;
  constexpr std::int64_t huge = std::numeric_limits<std::int64_t>::max();
  check_error(f.svc.try_consume(u, too_many), errc::invalid_argument);
  check_error(f.svc.reserve(u, too_many), errc::invalid_argument);
  check_error(f.svc.increment_usage(u, too_many, 0), errc::invalid_argument);
  check_error(f.svc.increment_usage(u, 0, too_many), errc::invalid_argument);
  check_error(f.svc.increment_usage(u, huge, huge), errc::invalid_argument);
  check_error(f.svc.commit(*res.reservation, huge), errc::invalid_argument);
  check_unchanged(f, u, before);
  f.check_audit(u);
}

TEST_CASE("increment_usage that would push a counter past its bound is invalid_argument and changes nothing") {
  service_fixture f;
  const auto u = f.add_user("big-corp", "enterprise");
  must(f.svc.increment_usage(u, 1, 1'000'000'000'000));
  const auto before = observe(f, u);
  check_error(f.svc.increment_usage(u, 1, 1'000'000'000'000), errc::invalid_argument);
  check_unchanged(f, u, before);
  CHECK(f.quota(u).tokens_this_month == 1'000'000'000'000);
  f.check_audit(u);
}

TEST_CASE("a tier that does not exist is unknown_tier and creates or changes nothing") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto before = observe(f, u);
  check_error(f.svc.upgrade_subscription(u, tier_id{"gold"}), errc::unknown_tier);
  check_error(f.svc.create_user(user_id{"carol"}, std::nullopt, tier_id{"gold"}), errc::unknown_tier);
  check_error(f.svc.get_subscription(user_id{"carol"}), errc::unknown_user);
  check_unchanged(f, u, before);
  f.check_audit(u);
}

TEST_CASE("a malformed tier id is invalid_argument") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto before = observe(f, u);
  for (const char* bad : {"", "Gold Tier!", "pro\x01", "tier-with-a-name-longer-than-twenty"}) {
    INFO("tier id \"" << bad << "\"");
    check_error(f.svc.upgrade_subscription(u, tier_id{bad}), errc::invalid_argument);
    check_error(f.svc.get_tier_config(tier_id{bad}), errc::invalid_argument);
  }
  check_unchanged(f, u, before);
  f.check_audit(u);
}

TEST_CASE("a user that does not exist is unknown_user") {
  service_fixture f;
  const user_id ghost{"ghost"};
  check_error(f.svc.get_subscription(ghost), errc::unknown_user);
  check_error(f.svc.try_consume(ghost), errc::unknown_user);
  check_error(f.svc.reserve(ghost, 1), errc::unknown_user);
  check_error(f.svc.increment_usage(ghost, 1, 1), errc::unknown_user);
  check_error(f.svc.get_user_quota_info(ghost), errc::unknown_user);
  check_error(f.svc.get_usage_stats(ghost), errc::unknown_user);
  check_error(f.svc.can_send_message(ghost), errc::unknown_user);
  check_error(f.svc.get_or_create_usage(ghost), errc::unknown_user);
  check_error(f.svc.upgrade_subscription(ghost, tier_id{"pro"}), errc::unknown_user);
  check_error(f.svc.assign_default_subscription(ghost), errc::unknown_user);
  event_query q;
  q.user = ghost;
  const auto events = f.svc.get_events(q);
  if (events) CHECK(events.value().empty());
}

TEST_CASE("quota_service::create refuses an unknown or malformed time zone with invalid_argument") {
  auto db = make_test_db();
  for (const char* zone : {"", "Mars/Base", "../etc/passwd", "Europe/Paris\n", "UTC+25"}) {
    INFO("time zone \"" << zone << "\"");
    service_options o;
    o.time_zone = zone;
    check_error(quota_service::create(db.store, o), errc::invalid_argument);
  }
  service_options ok_zone;
  ok_zone.time_zone = "Africa/Douala";
  CHECK(quota_service::create(db.store, ok_zone).has_value());
}

TEST_CASE("quota_service::create refuses a warning threshold outside [0.000001, 1] and a negative TTL") {
  auto db = make_test_db();
  service_options o;
  for (const double bad : {-0.5, 0.0, 1e-7, 1e-310, 1.0000001, std::nan("")}) {
    INFO(bad);
    o.warning_threshold = bad;
    check_error(quota_service::create(db.store, o), errc::invalid_argument);
  }
  for (const double good : {1e-6, 0.5, 1.0}) {
    INFO(good);
    o.warning_threshold = good;
    CHECK(quota_service::create(db.store, o).has_value());
  }
  o = service_options{};
  o.reservation_ttl = -5s;
  check_error(quota_service::create(db.store, o), errc::invalid_argument);
}

TEST_CASE("quota_service::create takes a request_id TTL from 1 minute to 400 days, or none") {
  auto db = make_test_db();
  service_options o;
  for (const auto bad : {std::chrono::seconds{-1}, 0s, 59s, std::chrono::seconds{std::chrono::hours{24 * 400} + 1s}}) {
    INFO(bad.count());
    o.request_id_ttl = bad;
    check_error(quota_service::create(db.store, o), errc::invalid_argument);
  }
  for (const auto good : {std::chrono::seconds{60}, std::chrono::seconds{std::chrono::hours{24 * 400}}}) {
    o.request_id_ttl = good;
    CHECK(quota_service::create(db.store, o).has_value());
  }
  o.request_id_ttl = std::nullopt;
  CHECK(quota_service::create(db.store, o).has_value());
  CHECK(service_options{}.request_id_ttl == std::chrono::seconds{std::chrono::hours{24 * 7}});
}

TEST_CASE("quota_service::create refuses a null storage with invalid_argument") {
  check_error(quota_service::create(nullptr), errc::invalid_argument);
}

TEST_CASE("malformed request ids are invalid_argument and count nothing") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto before = observe(f, u);
  for (const auto& bad :
       std::vector<std::string>{"", std::string(129, 'r'), "req\x01", "req\xff", std::string("re\0q", 4)}) {
    INFO("request id of " << bad.size() << " bytes");
    const auto ctx = with_request_id(bad);
    check_error(f.svc.try_consume(u, 0, ctx), errc::invalid_argument);
    check_error(f.svc.reserve(u, 0, ctx), errc::invalid_argument);
    check_error(f.svc.increment_usage(u, 1, 0, ctx), errc::invalid_argument);
  }
  check_unchanged(f, u, before);
  f.check_audit(u);
}

TEST_CASE("an oversized or invalid user agent and ip are invalid_argument and count nothing") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto before = observe(f, u);
  request_context long_agent;
  long_agent.user_agent = std::string(5000, 'A');
  check_error(f.svc.try_consume(u, 0, long_agent), errc::invalid_argument);
  request_context bad_agent;
  bad_agent.user_agent = "agent\xff";
  check_error(f.svc.try_consume(u, 0, bad_agent), errc::invalid_argument);
  request_context long_ip;
  long_ip.ip = std::string(200, '1');
  check_error(f.svc.try_consume(u, 0, long_ip), errc::invalid_argument);
  check_unchanged(f, u, before);
  f.check_audit(u);
}

TEST_CASE("get_events refuses a limit outside 1..10000") {
  service_fixture f;
  const auto u = f.add_user("alice");
  event_query q;
  q.user = u;
  q.limit = 0;
  check_error(f.svc.get_events(q), errc::invalid_argument);
  q.limit = -1;
  check_error(f.svc.get_events(q), errc::invalid_argument);
  q.limit = 10'001;
  check_error(f.svc.get_events(q), errc::invalid_argument);
  q.limit = 10'000;
  CHECK(f.svc.get_events(q).has_value());
}

TEST_CASE("log_usage_event refuses an empty event type and metadata that is not a JSON object") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto before = observe(f, u);
  check_error(f.svc.log_usage_event(u, "", 0, 0), errc::invalid_argument);
  check_error(f.svc.log_usage_event(u, "note", 0, 0, {}, std::string{"not json"}), errc::invalid_argument);
  check_error(f.svc.log_usage_event(u, "note", -1, 0), errc::invalid_argument);
  check_unchanged(f, u, before);
}

TEST_CASE("update_tier refuses negative limits and prices") {
  service_fixture f;
  const auto before = must(f.svc.get_tier_config(tier_id{"free"}));
  tier_update up;
  up.id = tier_id{"free"};
  up.messages_per_day = limit{-1};
  check_error(f.svc.update_tier(up), errc::invalid_argument);
  up = tier_update{};
  up.id = tier_id{"free"};
  up.price_fcfa = -100;
  check_error(f.svc.update_tier(up), errc::invalid_argument);
  CHECK(must(f.svc.get_tier_config(tier_id{"free"})) == before);
}
