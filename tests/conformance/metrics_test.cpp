// Monitoring: quota_service::metrics() counts the answers and times the
// calls of a chat request, and to_prometheus() renders them for a scrape.
#include "support/fixtures.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace kauri_quota;
using namespace kauri_quota::testing;

namespace {

/// The histogram of one call is cumulative, bounded by the call count, and
/// accounts for time spent.
void check_histogram(const call_metrics& c) {
  std::uint64_t previous = 0;
  for (const auto n : c.at_most) {
    CHECK(n >= previous);
    CHECK(n <= c.calls);
    previous = n;
  }
  CHECK(c.failed <= c.calls);
  if (c.calls > 0) CHECK(c.seconds > 0.0);
}

/// The samples of a Prometheus text, "name{labels}" -> value, checking the
/// format of every line on the way: each family's HELP and TYPE come before
/// its samples, and every value is a number.
std::map<std::string, double> samples_of(const std::string& text) {
  std::map<std::string, double> out;
  std::map<std::string, std::string> types;
  std::istringstream lines(text);
  std::string line;
  std::string help_for;
  while (std::getline(lines, line)) {
    CAPTURE(line);
    REQUIRE_FALSE(line.empty());
    if (line.rfind("# HELP ", 0) == 0) {
      help_for = line.substr(7, line.find(' ', 7) - 7);
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      const auto name = line.substr(7, line.find(' ', 7) - 7);
      CHECK(name == help_for);
      types[name] = line.substr(line.find(' ', 7) + 1);
      continue;
    }
    const auto space = line.rfind(' ');
    REQUIRE(space != std::string::npos);
    const std::string key = line.substr(0, space);
    const std::string name = key.substr(0, key.find('{'));
    CHECK(name.rfind("kauri_quota_", 0) == 0);
    CHECK(name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == std::string::npos);
    // A histogram's samples belong to its family.
    std::string family = name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string s = suffix;
      if (!types.count(family) && family.size() > s.size() && family.ends_with(s))
        family = family.substr(0, family.size() - s.size());
    }
    CHECK(types.count(family) == 1);
    std::size_t used = 0;
    const double value = std::stod(line.substr(space + 1), &used);
    CHECK(used == line.size() - space - 1);
    CHECK(out.count(key) == 0);
    out[key] = value;
  }
  CHECK(types["kauri_quota_decisions_total"] == "counter");
  CHECK(types["kauri_quota_call_duration_seconds"] == "histogram");
  return out;
}

}  // namespace

TEST_CASE("metrics count the answers of a chat request's calls, a denial as an answer") {
  service_fixture f;
  const auto free_user = f.add_user("m-free");
  const auto pro_user = f.add_user("m-pro", "pro");
  const auto zero = f.svc.metrics();
  CHECK(zero.allowed == 0);
  for (const auto& c : zero.calls) CHECK(c.calls == 0);

  for (int i = 0; i < 6; ++i) (void)f.consume(free_user);  // 5 allowed, the 6th denied
  CHECK(f.consume(pro_user, 10, with_request_id("r1")).allowed);
  CHECK(f.consume(pro_user, 10, with_request_id("r1")).replayed);
  const auto r1 = must(f.svc.reserve(pro_user, 50));
  must(f.svc.commit(*r1.reservation, 40));
  const auto r2 = must(f.svc.reserve(pro_user, 50));
  must(f.svc.release(*r2.reservation));
  must(f.svc.increment_usage(pro_user, 1, 5));
  must(f.svc.get_user_quota_info(pro_user));
  must(f.svc.get_usage_stats(pro_user));
  must(f.svc.can_send_message(free_user));

  const auto m = f.svc.metrics();
  CHECK(m.allowed == 9);  // 5 + 2 (the replay too) + 2 reservations
  CHECK(m.denied_daily == 1);
  CHECK(m.denied_monthly == 0);
  CHECK(m.denied_tokens == 0);
  CHECK(m.replayed == 1);
  CHECK(m.of(metered_call::consume).calls == 8);
  CHECK(m.of(metered_call::reserve).calls == 2);
  CHECK(m.of(metered_call::commit).calls == 1);
  CHECK(m.of(metered_call::release).calls == 1);
  CHECK(m.of(metered_call::record).calls == 1);
  CHECK(m.of(metered_call::quota_read).calls == 3);
  for (const auto& c : m.calls) {
    CHECK(c.failed == 0);
    check_histogram(c);
  }
  // Counted per service: another one on the same storage starts at zero.
  auto other = f.make_service(f.clock);
  CHECK(other.metrics().of(metered_call::consume).calls == 0);
}

TEST_CASE("failed calls are counted by call and by error code, and change no decision count") {
  service_fixture f;
  check_error(f.svc.try_consume(user_id{""}), errc::invalid_argument);
  check_error(f.svc.try_consume(user_id{"nobody"}), errc::unknown_user);
  check_error(f.svc.commit(reservation_id{"no-such-reservation"}, 1), errc::reservation_not_found);
  check_error(f.svc.get_user_quota_info(user_id{"nobody"}), errc::unknown_user);
  check_error(f.svc.increment_usage(user_id{"nobody"}, -1, 0), errc::invalid_argument);

  const auto m = f.svc.metrics();
  CHECK(m.of(metered_call::consume).calls == 2);
  CHECK(m.of(metered_call::consume).failed == 2);
  CHECK(m.of(metered_call::commit).failed == 1);
  CHECK(m.of(metered_call::quota_read).failed == 1);
  CHECK(m.of(metered_call::record).failed == 1);
  CHECK(m.failures(errc::invalid_argument) == 2);
  CHECK(m.failures(errc::unknown_user) == 2);
  CHECK(m.failures(errc::reservation_not_found) == 1);
  CHECK(m.allowed + m.denied_daily + m.denied_monthly + m.denied_tokens == 0);
}

TEST_CASE("to_prometheus renders every counter and histogram in the text format") {
  service_fixture f;
  f.set_limits("free", 3, {}, {});
  const auto u = f.add_user("scrape");
  for (int i = 0; i < 4; ++i) (void)f.consume(u);
  check_error(f.svc.try_consume(user_id{"nobody"}), errc::unknown_user);

  const std::string text = to_prometheus(f.svc.metrics());
  const auto s = samples_of(text);
  CHECK(s.at(R"(kauri_quota_decisions_total{result="allowed",limit="none"})") == 3);
  CHECK(s.at(R"(kauri_quota_decisions_total{result="denied",limit="daily"})") == 1);
  CHECK(s.at(R"(kauri_quota_decisions_total{result="denied",limit="tokens"})") == 0);
  CHECK(s.at("kauri_quota_replayed_total") == 0);
  CHECK(s.at(R"(kauri_quota_failed_calls_total{call="consume"})") == 1);
  CHECK(s.at(R"(kauri_quota_errors_total{code="unknown_user"})") == 1);
  CHECK(s.at(R"(kauri_quota_errors_total{code="storage_unavailable"})") == 0);
  CHECK(s.at(R"(kauri_quota_call_duration_seconds_count{call="consume"})") == 5);
  CHECK(s.at(R"(kauri_quota_call_duration_seconds_bucket{call="consume",le="+Inf"})") == 5);
  CHECK(s.at(R"(kauri_quota_call_duration_seconds_sum{call="consume"})") > 0);
  CHECK(s.at(R"(kauri_quota_call_duration_seconds_count{call="release"})") == 0);
  // The buckets of each call grow with their bound, up to the count.
  for (const auto c : {metered_call::consume, metered_call::reserve, metered_call::commit, metered_call::release,
                       metered_call::record, metered_call::quota_read}) {
    const std::string call = to_string(c);
    double previous = 0;
    for (const double bound : latency_bounds) {
      std::ostringstream key;
      key << "kauri_quota_call_duration_seconds_bucket{call=\"" << call << "\",le=\"" << bound << "\"}";
      CAPTURE(key.str());
      REQUIRE(s.count(key.str()) == 1);
      CHECK(s.at(key.str()) >= previous);
      previous = s.at(key.str());
    }
    CHECK(previous <= s.at("kauri_quota_call_duration_seconds_count{call=\"" + call + "\"}"));
  }
}

TEST_CASE("metrics stay exact when many threads call at once") {
  service_fixture f;
  constexpr int threads = 4;
  constexpr int per_thread = 40;
  std::vector<user_id> users;
  for (int t = 0; t < threads; ++t) users.push_back(f.add_user("mt-" + std::to_string(t), "enterprise"));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        (void)f.svc.try_consume(users[static_cast<std::size_t>(t)], 1);
        (void)f.svc.get_user_quota_info(users[static_cast<std::size_t>(t)]);
        (void)f.svc.metrics();  // reading while others count
      }
    });
  }
  for (auto& th : pool) th.join();
  const auto m = f.svc.metrics();
  CHECK(m.of(metered_call::consume).calls == threads * per_thread);
  CHECK(m.of(metered_call::quota_read).calls == threads * per_thread);
  CHECK(m.allowed == threads * per_thread);
  CHECK(m.of(metered_call::consume).at_most.back() <= m.of(metered_call::consume).calls);
}
