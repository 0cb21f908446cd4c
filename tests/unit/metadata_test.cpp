// The event_metadata the core builds for the audit log: the same text on
// both backends (PostgreSQL builds it with json_build_object).
#include "core/sql_support.hpp"

#include <doctest/doctest.h>

#include <string>

namespace kauri_quota::detail {

namespace {

tier pro_tier() {
  tier t;
  t.id = tier_id{"pro"};
  t.messages_per_day = 100;
  t.messages_per_month = 3000;
  t.tokens_per_month = 5'000'000;
  return t;
}

}  // namespace

TEST_CASE("quota_warning metadata writes the warning threshold in full, as PostgreSQL does") {
  usage u;
  u.messages_today = 86;
  const auto threshold_text = [&](double threshold) {
    const std::string meta = limit_metadata(limit_kind::daily, pro_tier(), u, threshold);
    const std::string prefix = R"({"limit":"daily","limit_value":100,"usage":86,"threshold":)";
    REQUIRE(meta.rfind(prefix, 0) == 0);
    REQUIRE(meta.back() == '}');
    return meta.substr(prefix.size(), meta.size() - prefix.size() - 1);
  };
  CHECK(threshold_text(0.855) == "0.855");  // not the percentage form "0.85"
  CHECK(threshold_text(1e-6) == "1e-06");   // not "0"
  CHECK(threshold_text(1.0) == "1");
  CHECK(threshold_text(0.8) == "0.8");
}

TEST_CASE("quota_warning metadata names the limit and its usage") {
  usage u;
  u.tokens_this_month = 4'000'000;
  CHECK(limit_metadata(limit_kind::tokens, pro_tier(), u, 0.8) ==
        R"({"limit":"tokens","limit_value":5000000,"usage":4000000,"threshold":0.8})");
  tier unlimited = pro_tier();
  unlimited.messages_per_month = std::nullopt;
  CHECK(limit_metadata(limit_kind::monthly, unlimited, u, 0.8) ==
        R"({"limit":"monthly","limit_value":null,"usage":0,"threshold":0.8})");
}

}  // namespace kauri_quota::detail
