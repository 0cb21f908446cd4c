#include "commands.hpp"

#include "render.hpp"

#include <kauri_quota/kauri_quota.hpp>

#include <fmt/format.h>

#include <unistd.h>  // isatty: progress is shown only on a terminal

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <system_error>
#include <utility>

namespace kauri_quota_cli {

namespace kq = kauri_quota;

namespace {

/// Opens the storage. Unless `may_create`, an `sqlite:` file that does not
/// exist is an error rather than a new empty database.
kq::result<std::shared_ptr<kq::storage>> open_store(const settings& s, bool may_create) {
  kq::open_options opts;
  opts.create = may_create;
  auto opened = kq::open_storage(s.url, opts);
  if (!opened) {
    kq::error e = opened.error();
    if (!may_create && e.message.rfind("database file not found", 0) == 0)
      e.message += " (run `kauri-quota migrate` to create it)";
    return e;
  }
  return std::shared_ptr<kq::storage>(std::move(opened).value());
}

kq::result<kq::quota_service> open_service(const settings& s, const command& cmd) {
  BOOST_OUTCOME_TRY(store, open_store(s, false));
  kq::service_options opts;
  opts.time_zone = s.zone;
  if (cmd.request_id_ttl) opts.request_id_ttl = *cmd.request_id_ttl;
  if (s.grace) opts.grace_period = *s.grace;
  opts.currency = s.currency;
  return kq::quota_service::create(std::move(store), std::move(opts));
}

void print(std::string_view text) { fmt::print("{}", text); }
void print_json(std::string_view json) { fmt::print("{}\n", json); }

std::string json_int_array(const std::vector<int>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) out += (i == 0 ? "" : ",") + std::to_string(v[i]);
  return out + "]";
}

std::string versions_text(const std::vector<int>& v) {
  std::string out;
  for (const int n : v) out += fmt::format(" {:04d}", n);
  return out;
}

kq::request_context context_of(const command& cmd) {
  kq::request_context ctx;
  if (cmd.request_id) ctx.id = kq::request_id{*cmd.request_id};
  ctx.ip = cmd.ip;
  ctx.user_agent = cmd.user_agent;
  return ctx;
}

// --- Schema --------------------------------------------------------------

/// Shows backfill progress on a terminal as one line rewritten in place.
class progress_line {
 public:
  progress_line() : enabled_(::isatty(STDERR_FILENO) == 1) {}
  progress_line(const progress_line&) = delete;
  progress_line& operator=(const progress_line&) = delete;
  ~progress_line() { finish(); }

  void update(const kq::migration_progress& p) {
    if (!enabled_) return;
    const double ratio = p.total > 0 ? static_cast<double>(p.done) / static_cast<double>(p.total) : 1.0;
    const auto pct = static_cast<int>(std::clamp(ratio, 0.0, 1.0) * 100.0);
    fmt::print(stderr, "\r{:04d} {}: {}/{} ({}%)\x1b[K", p.version, printable(p.step), p.done, p.total, pct);
    (void)std::fflush(stderr);
    shown_ = true;
  }
  void finish() {
    if (shown_) fmt::print(stderr, "\n");
    shown_ = false;
  }

 private:
  bool enabled_;
  bool shown_ = false;
};

/// The state of the server functions after a migration, on backends that
/// have them.
void print_functions_after_migrate(kq::storage& db) {
  auto fs = db.server_functions();
  if (!fs || fs.value().state == kq::function_state::none) return;
  print(fmt::format("functions {} (version {})\n", kq::to_string(fs.value().state),
                    fs.value().installed_version ? std::to_string(*fs.value().installed_version) : "none"));
}

int run_migrate(const command& cmd, const settings& s) {
  auto store = open_store(s, true);
  if (!store) return report(store.error());
  kq::storage& db = *store.value();

  kq::migrate_options opts;
  if (cmd.migrate_to) opts.to = *cmd.migrate_to;
  if (cmd.migrate_down) {
    auto current = db.schema_version();
    if (!current) return report(current.error());
    if (*cmd.migrate_down > current.value()) {
      return report(kq::make_error(kq::errc::invalid_argument,
                                   fmt::format("cannot roll back {} migrations: the database is at version {}",
                                               *cmd.migrate_down, current.value())));
    }
    opts.to = current.value() - *cmd.migrate_down;
  }
  progress_line progress;
  opts.progress = [&progress](const kq::migration_progress& p) { progress.update(p); };
  auto report_or_error = db.migrate(opts);
  progress.finish();
  if (!report_or_error) return report(report_or_error.error());
  const kq::migrate_report& r = report_or_error.value();

  if (s.json) {
    print_json(
        fmt::format(R"({{"database":{},"from_version":{},"to_version":{},"applied":{},"reverted":{},"adopted":{}}})",
                    kq::json_quote(kq::redact_url(s.url)), r.from_version, r.to_version, json_int_array(r.applied),
                    json_int_array(r.reverted), r.adopted));
    return exit_ok;
  }
  if (r.adopted) print("recognised a database created by the original migrations; recorded 0001-0004 as applied\n");
  if (r.applied.empty() && r.reverted.empty()) {
    print(fmt::format("already at version {}; nothing to do\n", r.to_version));
    print_functions_after_migrate(db);
    return exit_ok;
  }
  print(fmt::format("migrated {} from version {} to {}\n", kq::redact_url(s.url), r.from_version, r.to_version));
  print_functions_after_migrate(db);
  if (!r.applied.empty()) print(fmt::format("applied  {}\n", versions_text(r.applied).substr(1)));
  if (!r.reverted.empty()) print(fmt::format("reverted {}\n", versions_text(r.reverted).substr(1)));
  return exit_ok;
}

int run_schema(const settings& s) {
  auto store = open_store(s, false);
  if (!store) return report(store.error());
  kq::storage& db = *store.value();
  auto version = db.schema_version();
  if (!version) return report(version.error());
  auto list = db.migrations();
  if (!list) return report(list.error());
  int newest = 0;
  for (const kq::migration_info& m : list.value()) newest = std::max(newest, m.version);
  auto functions = db.server_functions();
  if (!functions) return report(functions.error());
  const kq::function_set_info& fs = functions.value();

  if (s.json) {
    std::string items = "[";
    for (const kq::migration_info& m : list.value()) {
      if (items.size() > 1) items += ",";
      items += fmt::format(R"({{"version":{},"name":{},"applied_at":{}}})", m.version, kq::json_quote(m.name),
                           m.applied_at ? kq::json_quote(kq::format_time(*m.applied_at)) : "null");
    }
    items += "]";
    const std::string functions_json =
        fs.state == kq::function_state::none
            ? std::string("null")
            : fmt::format(R"({{"state":{},"library_version":{},"installed_version":{},"detail":{}}})",
                          kq::json_quote(kq::to_string(fs.state)), fs.library_version,
                          fs.installed_version ? std::to_string(*fs.installed_version) : std::string("null"),
                          kq::json_quote(fs.detail));
    print_json(fmt::format(
        R"({{"database":{},"backend":{},"current_version":{},"newest_version":{},"migrations":{},"functions":{}}})",
        kq::json_quote(kq::redact_url(s.url)), kq::json_quote(db.backend()), version.value(), newest, items,
        functions_json));
    return exit_ok;
  }
  print(fmt::format("{:<10}{} ({})\n", "database", kq::redact_url(s.url), db.backend()));
  print(fmt::format("{:<10}{} (newest {}{})\n", "version", version.value(), newest,
                    version.value() == newest ? ", up to date" : "; run `kauri-quota migrate`"));
  for (const kq::migration_info& m : list.value()) {
    print(fmt::format("  {:04d}  {:<40}{}\n", m.version, m.name,
                      m.applied_at ? "applied " + show_instant(*m.applied_at, s.zone) : std::string("pending")));
  }
  if (fs.state != kq::function_state::none) {
    print(fmt::format("{:<10}{} (library version {}, installed {})\n", "functions", kq::to_string(fs.state),
                      fs.library_version, fs.installed_version ? std::to_string(*fs.installed_version) : "none"));
    if (!fs.detail.empty()) print(fmt::format("          {}\n", fs.detail));
    if (fs.state != kq::function_state::current && fs.state != kq::function_state::newer)
      print("          run `kauri-quota migrate` to reinstall them\n");
  }
  return exit_ok;
}

// --- Tiers ---------------------------------------------------------------

int run_tiers(kq::quota_service& svc, const command& cmd, const settings& s) {
  auto tiers = svc.get_all_tiers(!cmd.all);
  if (!tiers) return report(tiers.error());
  s.json ? print_json(kq::to_json(tiers.value())) : print(render_tiers(tiers.value()));
  return exit_ok;
}

int run_tier_show(kq::quota_service& svc, const command& cmd, const settings& s) {
  auto t = svc.get_tier_config(kq::tier_id{cmd.tier});
  if (!t) return report(t.error());
  s.json ? print_json(kq::to_json(t.value())) : print(render_tier(t.value()));
  return exit_ok;
}

int run_tier_set(kq::quota_service& svc, const command& cmd, const settings& s) {
  kq::tier_update u;
  u.id = kq::tier_id{cmd.tier};
  u.name = cmd.name;
  u.name_fr = cmd.name_fr;
  u.messages_per_day = cmd.daily;
  u.messages_per_month = cmd.monthly;
  u.tokens_per_month = cmd.tokens_limit;
  u.price_fcfa = cmd.price;
  u.display_order = cmd.order;
  u.is_visible = cmd.visible;
  auto t = svc.update_tier(u);
  if (!t) return report(t.error());
  s.json ? print_json(kq::to_json(t.value())) : print(render_tier(t.value()));
  return exit_ok;
}

// --- Users ---------------------------------------------------------------

int run_user_add(kq::quota_service& svc, const command& cmd, const settings& s) {
  std::optional<kq::tier_id> tier;
  if (cmd.new_user_tier) tier = kq::tier_id{*cmd.new_user_tier};
  auto sub = svc.create_user(kq::user_id{cmd.user}, cmd.email, tier);
  if (!sub) return report(sub.error());
  s.json ? print_json(kq::to_json(sub.value())) : print(render_subscription(sub.value(), s.zone));
  return exit_ok;
}

int run_user_show(kq::quota_service& svc, const command& cmd, const settings& s) {
  auto sub = svc.get_subscription(kq::user_id{cmd.user});
  if (!sub) return report(sub.error());
  s.json ? print_json(kq::to_json(sub.value())) : print(render_subscription(sub.value(), s.zone));
  return exit_ok;
}

int run_user_zone(kq::quota_service& svc, const command& cmd, const settings& s) {
  std::optional<std::string> zone;
  if (cmd.zone != "none") zone = cmd.zone;
  auto sub = svc.set_user_time_zone(kq::user_id{cmd.user}, zone);
  if (!sub) return report(sub.error());
  s.json ? print_json(kq::to_json(sub.value())) : print(render_subscription(sub.value(), s.zone));
  return exit_ok;
}

kq::usage_policy usage_of(const command& cmd) {
  return cmd.reset_usage ? kq::usage_policy::reset : kq::usage_policy::keep;
}

// --- Subscription lifecycle ------------------------------------------------

int run_trial(kq::quota_service& svc, const command& cmd, const settings& s) {
  auto sub = svc.start_trial(kq::user_id{cmd.user}, kq::tier_id{cmd.tier}, cmd.trial_length);
  if (!sub) return report(sub.error());
  s.json ? print_json(kq::to_json(sub.value())) : print(render_subscription(sub.value(), s.zone));
  return exit_ok;
}

int run_pay(kq::quota_service& svc, const command& cmd, const settings& s) {
  kq::payment p;
  p.provider = cmd.provider.value_or("manual");
  p.transaction_id = cmd.transaction_id.value_or("");
  p.user = kq::user_id{cmd.user};
  p.tier = kq::tier_id{cmd.tier};
  p.months = static_cast<std::int32_t>(cmd.months.value_or(1));
  p.amount = cmd.amount.value_or(0);
  p.currency = s.currency;
  auto out = svc.apply_payment(p, usage_of(cmd));
  if (!out) return report(out.error());
  const kq::payment_outcome& o = out.value();
  if (s.json) {
    print_json(kq::to_json(o));
    return exit_ok;
  }
  if (o.replayed) print("this payment was already recorded; nothing changed\n");
  print(render_payment(o.pay, s.zone));
  print("\n");
  print(render_subscription(o.sub, s.zone));
  return exit_ok;
}

int run_payments(kq::quota_service& svc, const command& cmd, const settings& s) {
  auto list = svc.get_payments(kq::user_id{cmd.user});
  if (!list) return report(list.error());
  s.json ? print_json(kq::to_json(list.value())) : print(render_payments(list.value(), s.zone));
  return exit_ok;
}

int run_cancel(kq::quota_service& svc, const command& cmd, const settings& s) {
  const kq::user_id user{cmd.user};
  auto sub = cmd.undo ? svc.undo_scheduled_change(user) : svc.cancel_at_period_end(user);
  if (!sub) return report(sub.error());
  s.json ? print_json(kq::to_json(sub.value())) : print(render_subscription(sub.value(), s.zone));
  return exit_ok;
}

int run_schedule(kq::quota_service& svc, const command& cmd, const settings& s) {
  auto sub = svc.schedule_change(kq::user_id{cmd.user}, kq::tier_id{cmd.tier});
  if (!sub) return report(sub.error());
  s.json ? print_json(kq::to_json(sub.value())) : print(render_subscription(sub.value(), s.zone));
  return exit_ok;
}

/// A strict "YYYY-MM-DD" that names a real day.
kq::result<kq::local_date> parse_day(const std::string& text, std::string_view what) {
  auto bad = [&] {
    return kq::make_error(kq::errc::invalid_argument,
                          fmt::format("{}: expected a day as YYYY-MM-DD, got '{}'", what, printable(text)));
  };
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return bad();
  int y = 0;
  unsigned m = 0;
  unsigned d = 0;
  for (std::size_t i = 0; i < 10; ++i) {
    if (i == 4 || i == 7) continue;
    if (text[i] < '0' || text[i] > '9') return bad();
  }
  y = std::stoi(text.substr(0, 4));
  m = static_cast<unsigned>(std::stoi(text.substr(5, 2)));
  d = static_cast<unsigned>(std::stoi(text.substr(8, 2)));
  const kq::local_date day{std::chrono::year{y}, std::chrono::month{m}, std::chrono::day{d}};
  if (!day.ok()) return bad();
  return day;
}

int run_history(kq::quota_service& svc, const command& cmd, const settings& s) {
  const kq::local_date today = svc.day_of(svc.now());
  kq::local_date to = today;
  if (cmd.to) {
    auto parsed = parse_day(*cmd.to, "--to");
    if (!parsed) return report(parsed.error());
    to = parsed.value();
  }
  kq::local_date from = kq::local_date{std::chrono::sys_days{to} - std::chrono::days{29}};
  if (cmd.by_month) from = to.year() / to.month() / std::chrono::day{1} - std::chrono::months{11};
  if (cmd.from) {
    auto parsed = parse_day(*cmd.from, "--from");
    if (!parsed) return report(parsed.error());
    from = parsed.value();
  }
  const kq::user_id user{cmd.user};
  if (cmd.by_month) {
    auto months = svc.get_monthly_usage(user, from, to);
    if (!months) return report(months.error());
    s.json ? print_json(kq::to_json(months.value())) : print(render_monthly(months.value()));
    return exit_ok;
  }
  auto days = svc.get_usage_history(user, from, to);
  if (!days) return report(days.error());
  s.json ? print_json(kq::to_json(days.value())) : print(render_history(days.value()));
  return exit_ok;
}

int run_upgrade(kq::quota_service& svc, const command& cmd, const settings& s) {
  auto up = svc.upgrade_subscription(kq::user_id{cmd.user}, kq::tier_id{cmd.tier}, {}, usage_of(cmd));
  if (!up) return report(up.error());
  const kq::upgrade_result& u = up.value();
  if (s.json) print_json(kq::to_json(u));
  // The spec's (success, message): a refused upgrade (already on that tier)
  // is reported as an error so that scripts notice it.
  if (!u.success) return report(kq::make_error(kq::errc::invalid_argument, u.message));
  if (!s.json) print(fmt::format("{}\n", printable(u.message, 400)));
  return exit_ok;
}

// --- Usage ---------------------------------------------------------------

int run_check(kq::quota_service& svc, const command& cmd, const settings& s) {
  const kq::user_id user{cmd.user};
  auto can = svc.can_send_message(user);
  if (!can) return report(can.error());
  if (s.json) {
    print_json(fmt::format(R"({{"user_id":{},"can_send_message":{}}})", kq::json_quote(cmd.user), can.value()));
  } else {
    print(fmt::format("{} {}\n", cmd.user,
                      can.value() ? "can send a message" : "cannot send a message (quota exceeded)"));
  }
  return can.value() ? exit_ok : exit_denied;
}

/// Prints an allowed decision, or the 429 denial payload of a denied one.
int show_decision(const kq::decision& d, const settings& s) {
  if (!d.allowed) {
    print_json(kq::denial_payload_json(d));
    return exit_denied;
  }
  if (s.json) {
    print_json(kq::to_json(d));
    return exit_ok;
  }
  std::string out = "allowed";
  if (d.replayed) out += " (a retry of an earlier request: not counted again)";
  out += "\n";
  if (d.reservation) out += fmt::format("reservation {}\n", d.reservation->str());
  out += render_remaining(d.quota);
  print(out);
  return exit_ok;
}

int run_consume(kq::quota_service& svc, const command& cmd, const settings& s) {
  auto d = svc.try_consume(kq::user_id{cmd.user}, cmd.tokens.value_or(0), context_of(cmd));
  if (!d) return report(d.error());
  return show_decision(d.value(), s);
}

int run_reserve(kq::quota_service& svc, const command& cmd, const settings& s) {
  auto d = svc.reserve(kq::user_id{cmd.user}, cmd.tokens.value_or(0), context_of(cmd));
  if (!d) return report(d.error());
  return show_decision(d.value(), s);
}

int run_record(kq::quota_service& svc, const command& cmd, const settings& s) {
  auto u =
      svc.increment_usage(kq::user_id{cmd.user}, cmd.messages.value_or(1), cmd.tokens.value_or(0), context_of(cmd));
  if (!u) return report(u.error());
  s.json ? print_json(kq::to_json(u.value())) : print(render_usage(u.value()));
  return exit_ok;
}

int run_settle(kq::quota_service& svc, const command& cmd, const settings& s) {
  const kq::reservation_id id{cmd.reservation};
  auto r = cmd.kind == command_kind::commit ? svc.commit(id, cmd.tokens.value_or(0)) : svc.release(id);
  if (!r) return report(r.error());
  s.json ? print_json(kq::to_json(r.value())) : print(render_reservation(r.value(), s.zone));
  return exit_ok;
}

/// "7 days", "90 minutes": a TTL in the largest whole unit.
std::string render_duration(std::chrono::seconds d) {
  const auto n = d.count();
  if (n % 86400 == 0) return fmt::format("{} day{}", n / 86400, n == 86400 ? "" : "s");
  if (n % 3600 == 0) return fmt::format("{} hour{}", n / 3600, n == 3600 ? "" : "s");
  if (n % 60 == 0) return fmt::format("{} minute{}", n / 60, n == 60 ? "" : "s");
  return fmt::format("{} second{}", n, n == 1 ? "" : "s");
}

int run_expire(kq::quota_service& svc, const settings& s) {
  auto n = svc.expire_reservations();
  if (!n) return report(n.error());
  auto transitions = svc.sweep_subscriptions();
  if (!transitions) return report(transitions.error());
  auto forgotten = svc.prune_request_ids();
  if (!forgotten) return report(forgotten.error());
  if (s.json) {
    print_json(fmt::format(R"({{"expired":{},"subscription_transitions":{},"request_ids_forgotten":{}}})", n.value(),
                           transitions.value(), forgotten.value()));
  } else {
    print(fmt::format("settled {} expired reservation{} at their estimate\n", n.value(), n.value() == 1 ? "" : "s"));
    print(fmt::format("wrote {} subscription transition{} that fell due\n", transitions.value(),
                      transitions.value() == 1 ? "" : "s"));
    if (const auto& ttl = svc.options().request_id_ttl)
      print(fmt::format("forgot {} request id{} older than {}\n", forgotten.value(), forgotten.value() == 1 ? "" : "s",
                        render_duration(*ttl)));
  }
  return exit_ok;
}

int run_prune(kq::quota_service& svc, const command& cmd, const settings& s) {
  const kq::local_date before = cmd.before.value_or(kq::local_date{});
  auto r = svc.prune_usage(before, cmd.batch.value_or(kq::default_prune_batch_size));
  if (!r) return report(r.error());
  const std::string day =
      kq::json_quote(fmt::format("{:04}-{:02}-{:02}", static_cast<int>(before.year()),
                                 static_cast<unsigned>(before.month()), static_cast<unsigned>(before.day())));
  if (s.json) {
    print_json(fmt::format(R"({{"before":{},"day_rows":{},"audit_rows":{},"reservations":{}}})", day,
                           r.value().day_rows, r.value().audit_rows, r.value().reservations));
  } else {
    const auto plural = [](std::int64_t n) { return n == 1 ? "" : "s"; };
    print(fmt::format("deleted {} day row{}, {} audit row{} and {} reservation{} of the days before {}\n",
                      r.value().day_rows, plural(r.value().day_rows), r.value().audit_rows,
                      plural(r.value().audit_rows), r.value().reservations, plural(r.value().reservations),
                      day.substr(1, 10)));
  }
  return exit_ok;
}

int run_quota(kq::quota_service& svc, const command& cmd, const settings& s) {
  const kq::user_id user{cmd.user};
  if (s.json) {
    auto q = svc.get_user_quota_info(user);
    if (!q) return report(q.error());
    print_json(kq::to_json(q.value()));
    return exit_ok;
  }
  // The stats carry the quota and the warning sentences for the view.
  auto st = svc.get_usage_stats(user);
  if (!st) return report(st.error());
  print(render_quota(st.value().quota, st.value().warnings, s.zone));
  return exit_ok;
}

int run_stats(kq::quota_service& svc, const command& cmd, const settings& s) {
  auto st = svc.get_usage_stats(kq::user_id{cmd.user});
  if (!st) return report(st.error());
  s.json ? print_json(kq::to_json(st.value())) : print(render_stats(st.value(), s.zone));
  return exit_ok;
}

int run_events(kq::quota_service& svc, const command& cmd, const settings& s) {
  kq::event_query q;
  q.user = kq::user_id{cmd.user};
  q.event_type = cmd.event_type;
  if (cmd.limit) q.limit = *cmd.limit;
  auto ev = svc.get_events(q);
  if (!ev) return report(ev.error());
  s.json ? print_json(kq::to_json(ev.value())) : print(render_events(ev.value(), s.zone));
  return exit_ok;
}

int run_reset(kq::quota_service& svc, const command& cmd, const settings& s) {
  std::optional<kq::user_id> user;
  if (cmd.reset_user) user = kq::user_id{*cmd.reset_user};
  auto n = cmd.reset_monthly ? svc.reset_monthly_quotas(user) : svc.reset_daily_quotas(user);
  if (!n) return report(n.error());
  const char* period = cmd.reset_monthly ? "monthly" : "daily";
  if (s.json) {
    print_json(fmt::format(R"({{"reset":"{}","user_id":{},"users_touched":{}}})", period,
                           user ? kq::json_quote(user->str()) : "null", n.value()));
  } else {
    print(fmt::format("reset the {} counters of {} user{}\n", period, n.value(), n.value() == 1 ? "" : "s"));
  }
  return exit_ok;
}

}  // namespace

int report(const kq::error& e) {
  std::string message = e.message.empty() ? e.code.message() : e.message;
  // One line, whatever the message holds.
  fmt::print(stderr, "error: {}\n", printable(message, 1000));
  return exit_error;
}

int run_command(const command& cmd, const settings& s) {
  switch (cmd.kind) {
    case command_kind::migrate:
      return run_migrate(cmd, s);
    case command_kind::schema:
      return run_schema(s);
    case command_kind::demo:
      return run_demo(cmd, s);
    case command_kind::help:
    case command_kind::version:
      return exit_usage;  // handled by main
    default:
      break;
  }

  auto opened = open_service(s, cmd);
  if (!opened) return report(opened.error());
  kq::quota_service& svc = opened.value();

  switch (cmd.kind) {
    case command_kind::tiers:
      return run_tiers(svc, cmd, s);
    case command_kind::tier_show:
      return run_tier_show(svc, cmd, s);
    case command_kind::tier_set:
      return run_tier_set(svc, cmd, s);
    case command_kind::user_add:
      return run_user_add(svc, cmd, s);
    case command_kind::user_show:
      return run_user_show(svc, cmd, s);
    case command_kind::check:
      return run_check(svc, cmd, s);
    case command_kind::consume:
      return run_consume(svc, cmd, s);
    case command_kind::record:
      return run_record(svc, cmd, s);
    case command_kind::reserve:
      return run_reserve(svc, cmd, s);
    case command_kind::commit:
    case command_kind::release:
      return run_settle(svc, cmd, s);
    case command_kind::quota:
      return run_quota(svc, cmd, s);
    case command_kind::stats:
      return run_stats(svc, cmd, s);
    case command_kind::events:
      return run_events(svc, cmd, s);
    case command_kind::reset:
      return run_reset(svc, cmd, s);
    case command_kind::upgrade:
      return run_upgrade(svc, cmd, s);
    case command_kind::expire:
      return run_expire(svc, s);
    case command_kind::prune:
      return run_prune(svc, cmd, s);
    case command_kind::user_zone:
      return run_user_zone(svc, cmd, s);
    case command_kind::trial:
      return run_trial(svc, cmd, s);
    case command_kind::pay:
      return run_pay(svc, cmd, s);
    case command_kind::payments:
      return run_payments(svc, cmd, s);
    case command_kind::cancel:
      return run_cancel(svc, cmd, s);
    case command_kind::schedule:
      return run_schedule(svc, cmd, s);
    case command_kind::history:
      return run_history(svc, cmd, s);
    default:
      break;
  }
  return exit_usage;
}

}  // namespace kauri_quota_cli
