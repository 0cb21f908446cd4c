// The original system's four recorded test results, checked through the
// library's public API: the tier catalogue, registration on the free plan,
// the quota endpoint (UserQuotaInfo) and the usage-stats endpoint.
#include "support/fixtures.hpp"

#include <array>
#include <cmath>
#include <set>
#include <string>

using namespace kauri_quota;
using namespace kauri_quota::testing;

namespace {

struct expected_tier {
  const char* id;
  const char* name;
  limit per_day;
  limit per_month;
  limit tokens;
  std::int64_t price;
};

const std::array<expected_tier, 4> default_tiers{{
    {"free", "Free", 5, 150, 100'000, 0},
    {"pro", "Pro", 100, 3'000, 3'000'000, 7'000},
    {"max", "Max", 500, 15'000, 15'000'000, 22'000},
    {"enterprise", "Enterprise", std::nullopt, std::nullopt, std::nullopt, 85'000},
}};

const std::array<const char*, 4> known_features{"document_sourcing", "pdf_generation", "priority_support",
                                                "api_access"};

/// A feature flag, absent meaning off.
bool has_feature(const tier& t, const std::string& name) {
  auto it = t.features.find(name);
  return it != t.features.end() && it->second;
}

bool expected_feature(std::string_view tier, std::string_view feature) {
  const bool pro_up = tier == "pro" || tier == "max" || tier == "enterprise";
  const bool max_up = tier == "max" || tier == "enterprise";
  if (feature == "document_sourcing" || feature == "pdf_generation") return pro_up;
  if (feature == "priority_support") return max_up;
  if (feature == "api_access") return tier == "enterprise";
  return false;
}

}  // namespace

TEST_CASE("get_all_tiers returns free, pro, max and enterprise in display order with the spec's prices and limits") {
  service_fixture f;
  const auto tiers = must(f.svc.get_all_tiers());
  REQUIRE(tiers.size() == 4);
  for (std::size_t i = 0; i < tiers.size(); ++i) {
    const auto& want = default_tiers[i];
    const auto& got = tiers[i];
    INFO("tier #" << i << " (" << got.id.str() << ")");
    CHECK(got.id == tier_id{want.id});
    CHECK(got.name == want.name);
    CHECK(got.messages_per_day == want.per_day);
    CHECK(got.messages_per_month == want.per_month);
    CHECK(got.tokens_per_month == want.tokens);
    CHECK(got.price_fcfa == want.price);
    CHECK(got.is_visible);
    CHECK_FALSE(got.name_fr.empty());
    if (i > 0) CHECK(tiers[i - 1].display_order < got.display_order);
  }
  CHECK(tiers[0].name_fr == "Gratuit");
  CHECK(tiers[3].name_fr == "Entreprise");
}

TEST_CASE(
    "tier features: document_sourcing and pdf_generation from pro up, priority_support from max up, "
    "api_access for enterprise") {
  service_fixture f;
  const auto tiers = must(f.svc.get_all_tiers());
  REQUIRE(tiers.size() == 4);
  for (const auto& t : tiers) {
    for (const char* feature : known_features) {
      INFO("tier " << t.id.str() << ", feature " << feature);
      CHECK(has_feature(t, feature) == expected_feature(t.id.str(), feature));
    }
  }
}

TEST_CASE("tier features are listed consistently: either every tier names every flag, or no tier lists a false one") {
  service_fixture f;
  const auto tiers = must(f.svc.get_all_tiers());
  REQUIRE(tiers.size() == 4);
  bool every_tier_names_every_flag = true;
  bool some_false_flag = false;
  for (const auto& t : tiers) {
    for (const char* feature : known_features) {
      if (!t.features.contains(feature)) every_tier_names_every_flag = false;
    }
    for (const auto& [name, on] : t.features) {
      if (!on) some_false_flag = true;
    }
  }
  INFO("every tier names every flag: " << every_tier_names_every_flag
                                       << ", some flag is listed as false: " << some_false_flag);
  CHECK((every_tier_names_every_flag || !some_false_flag));
}

TEST_CASE("get_all_tiers(false) lists the default tiers too, and get_tier_config returns each of them") {
  service_fixture f;
  const auto visible = must(f.svc.get_all_tiers(true));
  const auto all = must(f.svc.get_all_tiers(false));
  CHECK(all.size() >= visible.size());
  std::set<std::string> ids;
  for (const auto& t : all) ids.insert(t.id.str());
  for (const auto& want : default_tiers) {
    CHECK(ids.contains(want.id));
    const auto one = must(f.svc.get_tier_config(tier_id{want.id}));
    CHECK(one.id == tier_id{want.id});
    CHECK(one.messages_per_day == want.per_day);
    CHECK(one.price_fcfa == want.price);
  }
}

TEST_CASE("get_tier_config of a tier that does not exist is unknown_tier") {
  service_fixture f;
  check_error(f.svc.get_tier_config(tier_id{"platinum"}), errc::unknown_tier);
}

TEST_CASE("to_json of the tier list has the spec's field names, null for unlimited and features as booleans") {
  service_fixture f;
  const auto tiers = must(f.svc.get_all_tiers());
  const auto doc = parse_json(to_json(tiers));
  REQUIRE(doc.type == json_value::kind::array);
  REQUIRE(doc.items.size() == 4);
  CHECK(doc.items[0]["tier_id"].as_string() == "free");
  CHECK(doc.items[0]["name"].as_string() == "Free");
  CHECK(doc.items[0]["name_fr"].as_string() == "Gratuit");
  CHECK(doc.items[0]["messages_per_day"].as_int() == 5);
  CHECK(doc.items[0]["messages_per_month"].as_int() == 150);
  CHECK(doc.items[0]["tokens_per_month"].as_int() == 100'000);
  CHECK(doc.items[0]["price_fcfa"].as_int() == 0);
  CHECK(doc.items[1]["price_fcfa"].as_int() == 7'000);
  CHECK(doc.items[2]["price_fcfa"].as_int() == 22'000);
  CHECK(doc.items[3]["price_fcfa"].as_int() == 85'000);
  CHECK(doc.items[3]["messages_per_day"].is_null());
  CHECK(doc.items[3]["messages_per_month"].is_null());
  CHECK(doc.items[3]["tokens_per_month"].is_null());
  for (const auto& t : doc.items) {
    const auto& features = t["features"];
    REQUIRE(features.type == json_value::kind::object);
    for (const auto& [name, flag] : features.members) {
      INFO("feature " << name);
      CHECK(flag.type == json_value::kind::boolean);
    }
  }
  CHECK(doc.items[1]["features"]["pdf_generation"].as_bool());
  CHECK(doc.items[3]["features"]["api_access"].as_bool());
}

TEST_CASE("update_tier changes the given limits, keeps the other fields, and distinguishes unlimited from zero") {
  service_fixture f;
  const auto before = must(f.svc.get_tier_config(tier_id{"free"}));

  tier_update up;
  up.id = tier_id{"free"};
  up.messages_per_day = limit{10};
  up.tokens_per_month = limit{std::nullopt};
  const auto after = must(f.svc.update_tier(up));
  CHECK(after.messages_per_day == limit{10});
  CHECK(after.messages_per_month == before.messages_per_month);
  CHECK_FALSE(after.tokens_per_month.has_value());
  CHECK(after.name == before.name);
  CHECK(after.name_fr == before.name_fr);
  CHECK(after.price_fcfa == before.price_fcfa);
  CHECK(after.features == before.features);
  CHECK(must(f.svc.get_tier_config(tier_id{"free"})) == after);

  up = tier_update{};
  up.id = tier_id{"free"};
  up.messages_per_month = limit{0};
  const auto zero = must(f.svc.update_tier(up));
  REQUIRE(zero.messages_per_month.has_value());
  CHECK(*zero.messages_per_month == 0);
}

TEST_CASE("update_tier of a tier that does not exist is unknown_tier") {
  service_fixture f;
  tier_update up;
  up.id = tier_id{"platinum"};
  up.messages_per_day = limit{1};
  check_error(f.svc.update_tier(up), errc::unknown_tier);
}

TEST_CASE("a registered user is on the free tier, active, with a start date equal to the clock's now") {
  service_fixture f;
  const user_id u{"7336840a-b662-428b-b912-ffcf4dd0635d"};
  const auto sub = must(f.svc.create_user(u, std::string{"test_quota@kauri.com"}));
  CHECK(sub.user == u);
  CHECK(sub.tier == tier_id{"free"});
  CHECK(sub.status == subscription_status::active);
  REQUIRE(sub.start_date.has_value());
  CHECK(*sub.start_date == f.now());
  CHECK_FALSE(sub.end_date.has_value());
  CHECK(sub.email == std::optional<std::string>{"test_quota@kauri.com"});

  f.advance(std::chrono::hours{1});
  const auto read = must(f.svc.get_subscription(u));
  CHECK(read.tier == tier_id{"free"});
  CHECK(read.status == subscription_status::active);
  REQUIRE(read.start_date.has_value());
  CHECK(*read.start_date == at("2025-11-07T10:00:00Z"));
  CHECK(read.email == sub.email);

  const auto doc = parse_json(to_json(read));
  CHECK(doc["user_id"].as_string() == u.str());
  CHECK(doc["email"].as_string() == "test_quota@kauri.com");
  CHECK(doc["subscription_tier"].as_string() == "free");
  CHECK(doc["subscription_status"].as_string() == "active");
  CHECK(doc["subscription_start_date"].as_string().starts_with("2025-11-07T10:00:00"));
}

TEST_CASE("create_user with an explicit tier puts the user on that tier") {
  service_fixture f;
  const auto sub = must(f.svc.create_user(user_id{"paying"}, std::nullopt, tier_id{"max"}));
  CHECK(sub.tier == tier_id{"max"});
  CHECK(sub.status == subscription_status::active);
  CHECK(must(f.svc.get_user_quota_info(user_id{"paying"})).messages_per_day_limit == limit{500});
}

TEST_CASE("create_user on an existing user is user_exists and changes nothing") {
  service_fixture f;
  const auto u = f.add_user("alice", "pro");
  f.consume(u);
  const auto events_before = f.events(u).size();
  check_error(f.svc.create_user(u), errc::user_exists);
  CHECK(must(f.svc.get_subscription(u)).tier == tier_id{"pro"});
  CHECK(f.quota(u).messages_today == 1);
  CHECK(f.events(u).size() == events_before);
  f.check_audit(u);
}

TEST_CASE("create_user and assign_default_subscription are audited as subscription_assigned") {
  service_fixture f;
  const auto u = f.add_user("alice");
  CHECK(f.count_events(u, "subscription_assigned") == 1);
  must(f.svc.assign_default_subscription(u));
  CHECK(f.count_events(u, "subscription_assigned") == 2);
  f.check_audit(u);
}

TEST_CASE("assign_default_subscription puts an existing user back on free, active, starting now") {
  service_fixture f;
  const auto u = f.add_user("alice", "pro");
  f.advance(std::chrono::hours{2});
  const auto sub = must(f.svc.assign_default_subscription(u));
  CHECK(sub.tier == tier_id{"free"});
  CHECK(sub.status == subscription_status::active);
  REQUIRE(sub.start_date.has_value());
  CHECK(*sub.start_date == at("2025-11-07T12:00:00Z"));
  CHECK(must(f.svc.get_subscription(u)).tier == tier_id{"free"});
}

TEST_CASE("the quota info of a fresh free user matches the spec field by field") {
  service_fixture f;
  const auto u = f.add_user("7336840a-b662-428b-b912-ffcf4dd0635d");
  CHECK(f.quota(u) == expected_fresh_free_quota(u, date("2025-11-07")));
}

TEST_CASE("to_json of a fresh free user's quota info has the spec's UserQuotaInfo fields and values") {
  service_fixture f;
  const auto u = f.add_user("7336840a-b662-428b-b912-ffcf4dd0635d");
  const auto text = to_json(f.quota(u));
  INFO("to_json(quota_info) = " << text);
  const auto doc = parse_json(text);
  CHECK(doc["user_id"].as_string() == "7336840a-b662-428b-b912-ffcf4dd0635d");
  CHECK(doc["subscription_tier"].as_string() == "free");
  CHECK(doc["tier_name"].as_string() == "Free");
  CHECK(doc["tier_name_fr"].as_string() == "Gratuit");
  CHECK(doc["messages_per_day_limit"].as_int() == 5);
  CHECK(doc["messages_per_month_limit"].as_int() == 150);
  CHECK(doc["messages_today"].as_int() == 0);
  CHECK(doc["messages_remaining_today"].as_int() == 5);
  CHECK(doc["messages_remaining_month"].as_int() == 150);
  CHECK(doc["can_send_message"].as_bool() == true);
  CHECK(doc["is_quota_exceeded"].as_bool() == false);
  CHECK(doc["needs_upgrade"].as_bool() == false);
  CHECK(doc["warning_threshold_reached"].as_bool() == false);
}

TEST_CASE("to_json of quota info starts with the spec's UserQuotaInfo fields in the spec's order") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto text = to_json(f.quota(u));
  INFO("to_json(quota_info) = " << text);
  const auto doc = parse_json(text);
  REQUIRE(doc.type == json_value::kind::object);
  REQUIRE(doc.members.size() >= 13);
  const std::array<const char*, 13> spec_order{"user_id",
                                               "subscription_tier",
                                               "tier_name",
                                               "tier_name_fr",
                                               "messages_per_day_limit",
                                               "messages_per_month_limit",
                                               "messages_today",
                                               "messages_remaining_today",
                                               "messages_remaining_month",
                                               "can_send_message",
                                               "is_quota_exceeded",
                                               "needs_upgrade",
                                               "warning_threshold_reached"};
  for (std::size_t i = 0; i < spec_order.size(); ++i) CHECK(doc.members[i].first == spec_order[i]);
}

TEST_CASE("the quota info of an enterprise user is unlimited: null limits and null remaining counts") {
  service_fixture f;
  const auto u = f.add_user("big-corp", "enterprise");
  f.consume(u, 1234);
  const auto q = f.quota(u);
  CHECK(q.subscription_tier == tier_id{"enterprise"});
  CHECK(q.tier_name == "Enterprise");
  CHECK(q.tier_name_fr == "Entreprise");
  CHECK_FALSE(q.messages_per_day_limit.has_value());
  CHECK_FALSE(q.messages_per_month_limit.has_value());
  CHECK_FALSE(q.tokens_per_month_limit.has_value());
  CHECK_FALSE(q.messages_remaining_today.has_value());
  CHECK_FALSE(q.messages_remaining_month.has_value());
  CHECK_FALSE(q.tokens_remaining_month.has_value());
  CHECK(q.messages_today == 1);
  CHECK(q.tokens_today == 1234);
  CHECK(q.can_send_message);
  CHECK_FALSE(q.warning_threshold_reached);
  const auto doc = parse_json(to_json(q));
  CHECK(doc["messages_per_day_limit"].is_null());
  CHECK(doc["messages_per_month_limit"].is_null());
  CHECK(doc["messages_remaining_today"].is_null());
  CHECK(doc["messages_remaining_month"].is_null());
  CHECK(doc["messages_today"].as_int() == 1);
  f.check_audit(u);
}

TEST_CASE("usage stats are 0% with no warning for a fresh user, then 80% with a warning after 4 of 5 messages") {
  service_fixture f;
  const auto u = f.add_user("alice");
  const auto fresh = must(f.svc.get_usage_stats(u));
  REQUIRE(fresh.daily_percent.has_value());
  REQUIRE(fresh.monthly_percent.has_value());
  REQUIRE(fresh.tokens_percent.has_value());
  CHECK(*fresh.daily_percent == doctest::Approx(0.0));
  CHECK(*fresh.monthly_percent == doctest::Approx(0.0));
  CHECK(*fresh.tokens_percent == doctest::Approx(0.0));
  CHECK(fresh.warnings.empty());
  CHECK_FALSE(fresh.quota.warning_threshold_reached);

  REQUIRE(f.consume_n(u, 4) == 4);
  const auto used = must(f.svc.get_usage_stats(u));
  REQUIRE(used.daily_percent.has_value());
  REQUIRE(used.monthly_percent.has_value());
  CHECK(*used.daily_percent == doctest::Approx(80.0));
  // Percentages may be rounded for display (2.67 for 4/150).
  CHECK(*used.monthly_percent == doctest::Approx(400.0 / 150.0).epsilon(0.005));
  CHECK_FALSE(used.warnings.empty());
  for (const auto& w : used.warnings) CHECK_FALSE(w.empty());
  CHECK(used.quota.warning_threshold_reached);
  CHECK(used.quota.messages_today == 4);

  const auto doc = parse_json(to_json(used));
  CHECK(doc.type == json_value::kind::object);
  f.check_audit(u);
}

TEST_CASE("usage stats of an unlimited tier have no percentages and no warnings") {
  service_fixture f;
  const auto u = f.add_user("big-corp", "enterprise");
  REQUIRE(f.consume_n(u, 10) == 10);
  const auto s = must(f.svc.get_usage_stats(u));
  CHECK_FALSE(s.daily_percent.has_value());
  CHECK_FALSE(s.monthly_percent.has_value());
  CHECK_FALSE(s.tokens_percent.has_value());
  CHECK(s.warnings.empty());
  f.check_audit(u);
}

TEST_CASE("usage stats count a zero limit as 100%") {
  service_fixture f;
  f.set_limits("free", limit{0}, limit{150}, limit{100'000});
  const auto u = f.add_user("alice");
  const auto s = must(f.svc.get_usage_stats(u));
  REQUIRE(s.daily_percent.has_value());
  CHECK(*s.daily_percent == doctest::Approx(100.0));
  CHECK_FALSE(s.warnings.empty());
}

TEST_CASE("can_send_message is true for a fresh user, false once the day is used up, and counts nothing") {
  service_fixture f;
  const auto u = f.add_user("alice");
  CHECK(must(f.svc.can_send_message(u)));
  CHECK(must(f.svc.can_send_message(u)));
  CHECK(f.quota(u).messages_today == 0);
  REQUIRE(f.consume_n(u, 5) == 5);
  CHECK_FALSE(must(f.svc.can_send_message(u)));
  CHECK(f.quota(u).messages_today == 5);
  f.check_audit(u);
}

TEST_CASE("JSON views quote user ids with quotes, backslashes and non-ASCII text exactly") {
  service_fixture f;
  const std::string tricky = "o'brien \"the\" \\ one / \xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80";
  const auto u = f.add_user(tricky);
  REQUIRE(f.consume(u).allowed);
  CHECK(parse_json(to_json(f.quota(u)))["user_id"].as_string() == tricky);
  CHECK(parse_json(to_json(must(f.svc.get_subscription(u))))["user_id"].as_string() == tricky);
  const auto events = parse_json(to_json(f.events(u)));
  REQUIRE(events.type == json_value::kind::array);
  REQUIRE_FALSE(events.items.empty());
  CHECK(events.items[0]["user_id"].as_string() == tricky);
  CHECK(parse_json(json_quote(tricky)).as_string() == tricky);
  CHECK(parse_json(json_quote("bad \xff byte")).as_string() == "bad \xef\xbf\xbd byte");
  f.check_audit(u);
}
