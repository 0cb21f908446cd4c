// `kauri-quota demo`: the story of the requirements, run on a fresh
// temporary SQLite database — a free user sends five messages, the sixth is
// refused with the 429 payload, an upgrade to pro lets the next one through.

#include "commands.hpp"
#include "render.hpp"

#include <kauri_quota/kauri_quota.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>  // mkdtemp, getenv
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace kauri_quota_cli {

namespace kq = kauri_quota;

namespace {

/// Collects the steps of the story and prints them: as text while they
/// happen, or as one JSON array at the end.
class story {
 public:
  explicit story(bool json) : json_(json) {}
  story(const story&) = delete;
  story& operator=(const story&) = delete;
  ~story() {
    if (!json_) return;
    std::string out = "[";
    for (std::size_t i = 0; i < steps_.size(); ++i) out += (i == 0 ? "" : ",") + steps_[i];
    fmt::print("{}]\n", out);
  }

  /// Records a step; returns `ok`.
  bool step(std::string_view title, bool ok, std::string_view human, std::string_view json_result) {
    ++number_;
    if (json_) {
      steps_.push_back(fmt::format(R"({{"step":{},"title":{},"ok":{},"result":{}}})", number_, kq::json_quote(title),
                                   ok, json_result));
    } else {
      fmt::print("{}. {}\n{}\n", number_, title, indent(human, "   "));
    }
    return ok;
  }

  /// Says in human mode; silent in JSON mode.
  void say(std::string_view text) const {
    if (!json_) fmt::print("{}", text);
  }

 private:
  bool json_;
  int number_ = 0;
  std::vector<std::string> steps_;
};

/// Reports a step whose outcome differed from the story's.
int unexpected(std::string_view what) {
  return report(kq::make_error(kq::errc::internal, fmt::format("the demo did not go as expected: {}", what)));
}

std::string tier_prices(const std::vector<kq::tier>& tiers) {
  std::string out;
  for (const kq::tier& t : tiers) out += (out.empty() ? "" : " / ") + group_digits(t.price_fcfa);
  return out;
}

/// Steps 2-4: the tiers, a new user on free, and its quota.
int introduce(story& log, kq::quota_service& svc, const kq::user_id& user, const std::function<void()>& tick,
              const std::string& zone) {
  // 2. The four tiers and their prices.
  auto tiers = svc.get_all_tiers(true);
  if (!tiers) return report(tiers.error());
  const std::string prices = tier_prices(tiers.value());
  if (!log.step("The subscription tiers", tiers.value().size() == 4 && prices == "0 / 7,000 / 22,000 / 85,000",
                render_tiers(tiers.value()), kq::to_json(tiers.value()))) {
    return unexpected("expected 4 tiers priced 0 / 7,000 / 22,000 / 85,000 FCFA, got " + prices);
  }

  // 3. A new user starts on free, active.
  tick();
  auto sub = svc.create_user(user, std::string("demo@example.com"));
  if (!sub) return report(sub.error());
  const bool on_free = sub.value().tier == kq::tier_id{"free"} &&
                       sub.value().status == kq::subscription_status::active && sub.value().start_date.has_value();
  if (!log.step("Register demo-user: the free tier, active from now", on_free, render_subscription(sub.value(), zone),
                kq::to_json(sub.value()))) {
    return unexpected("a new user should be on the free tier, active");
  }

  // 4. Its quota: 5 messages a day.
  auto quota = svc.get_user_quota_info(user);
  if (!quota) return report(quota.error());
  const bool five = quota.value().messages_per_day_limit == kq::limit{5} && quota.value().messages_today == 0 &&
                    quota.value().can_send_message;
  if (!log.step("Its quota: 5 messages a day", five, render_quota(quota.value(), {}, zone),
                kq::to_json(quota.value()))) {
    return unexpected("a new free user should have 5 messages a day left");
  }

  return exit_ok;
}

/// Steps 5-9: five messages, the refused sixth, the upgrade, the next
/// message and the final quota.
int run_out_and_upgrade(story& log, kq::quota_service& svc, const kq::user_id& user, const std::function<void()>& tick,
                        const std::string& zone) {
  // 5. Five messages, each allowed.
  std::string human;
  std::string json = "[";
  bool all_allowed = true;
  for (int i = 1; i <= 5; ++i) {
    tick();
    auto d = svc.try_consume(user);
    if (!d) return report(d.error());
    all_allowed = all_allowed && d.value().allowed;
    human += fmt::format("message {}: {}, {} left today\n", i, d.value().allowed ? "allowed" : "refused",
                         show_limit(d.value().quota.messages_remaining_today));
    json += (i == 1 ? "" : ",") + kq::to_json(d.value());
  }
  json += "]";
  if (!log.step("Send 5 messages", all_allowed, human, json)) {
    return unexpected("each of the first 5 messages should be allowed");
  }

  // 6. The sixth is refused: the HTTP 429 body a host would return.
  tick();
  auto sixth = svc.try_consume(user);
  if (!sixth) return report(sixth.error());
  const kq::decision& refused = sixth.value();
  const std::string payload = kq::denial_payload_json(refused);
  const bool denied = !refused.allowed && refused.denied_by == kq::limit_kind::daily;
  if (!log.step("The 6th message is refused (HTTP 429)", denied,
                fmt::format("message 6: {} by the {} limit\n{}\n", refused.allowed ? "allowed" : "refused",
                            kq::to_string(refused.denied_by), payload),
                refused.allowed ? kq::to_json(refused) : payload)) {
    return unexpected("the 6th message of a free user's day should be refused by the daily limit");
  }

  // 7. Upgrade to pro, effective at once.
  tick();
  auto up = svc.upgrade_subscription(user, kq::tier_id{"pro"});
  if (!up) return report(up.error());
  if (!log.step("Upgrade demo-user to pro", up.value().success, up.value().message + "\n", kq::to_json(up.value()))) {
    return unexpected("the upgrade to pro should succeed");
  }

  // 8. The next message goes through.
  tick();
  auto next = svc.try_consume(user);
  if (!next) return report(next.error());
  if (!log.step("The next message is allowed", next.value().allowed,
                fmt::format("message 7: {}\n{}", next.value().allowed ? "allowed" : "refused",
                            render_remaining(next.value().quota)),
                next.value().allowed ? kq::to_json(next.value()) : kq::denial_payload_json(next.value()))) {
    return unexpected("after the upgrade the next message should be allowed");
  }

  // 9. The final quota: pro, 6 messages today.
  auto final_quota = svc.get_user_quota_info(user);
  if (!final_quota) return report(final_quota.error());
  const bool pro =
      final_quota.value().subscription_tier == kq::tier_id{"pro"} && final_quota.value().messages_today == 6;
  if (!log.step("The final quota", pro, render_quota(final_quota.value(), {}, zone),
                kq::to_json(final_quota.value()))) {
    return unexpected("the final quota should show pro with 6 messages today");
  }

  return exit_ok;
}

int tell_story(const std::filesystem::path& dir, const command& cmd, const settings& s) {
  story log(s.json);
  const std::string url = "sqlite:" + (dir / "demo.db").string();
  log.say(fmt::format("kauri-quota demo on a fresh embedded database ({})\n\n", url));

  // 1. A fresh database, migrated to the newest schema.
  auto opened = kq::open_storage(url);
  if (!opened) return report(opened.error());
  std::shared_ptr<kq::storage> store = std::move(opened).value();
  auto migrated = store->migrate(kq::migrate_options{});
  if (!migrated) return report(migrated.error());
  log.step("Create and migrate a fresh SQLite database", true,
           fmt::format("database  {}\nschema    version {} ({} migrations applied)\n", url, migrated.value().to_version,
                       migrated.value().applied.size()),
           fmt::format(R"({{"database":{},"kept":{},"schema_version":{}}})", kq::json_quote(url), cmd.keep,
                       migrated.value().to_version));

  // A clock that moves only when told, so that the story cannot straddle
  // midnight and each step gets its own timestamp.
  auto clock = std::make_shared<kq::manual_clock>(kq::system_clock()->now());
  kq::service_options opts;
  opts.time_zone = s.zone;
  opts.time_source = clock;
  auto created = kq::quota_service::create(store, opts);
  if (!created) return report(created.error());
  kq::quota_service& svc = created.value();
  const kq::user_id user{"demo-user"};
  const auto tick = [&clock] { clock->advance(std::chrono::seconds{1}); };
  if (const int status = introduce(log, svc, user, tick, s.zone); status != exit_ok) return status;
  if (const int status = run_out_and_upgrade(log, svc, user, tick, s.zone); status != exit_ok) return status;

  log.say(cmd.keep ? fmt::format("The story went as expected. The database was kept: {}\n", url)
                   : std::string("The story went as expected. The temporary database is removed.\n"));
  return exit_ok;
}

}  // namespace

int run_demo(const command& cmd, const settings& s) {
  const char* tmp = std::getenv("TMPDIR");  // NOLINT(concurrency-mt-unsafe): one thread
  const std::string base = (tmp != nullptr && *tmp != '\0') ? tmp : "/tmp";
  std::string path = base + "/kauri-quota-demo-XXXXXX";
  if (::mkdtemp(path.data()) == nullptr) {
    const std::string reason = std::generic_category().message(errno);
    return report(kq::make_error(kq::errc::io_error, fmt::format("cannot create a temporary directory in {}: {}",
                                                                 printable(base, 200), reason)));
  }
  const std::filesystem::path dir(path);
  const int status = tell_story(dir, cmd, s);  // closes the database before removal
  if (!cmd.keep) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  return status;
}

}  // namespace kauri_quota_cli
