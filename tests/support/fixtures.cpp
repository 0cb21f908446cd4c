#include "support/fixtures.hpp"

#ifdef KAURI_QUOTA_TEST_POSTGRES
#include "support/postgres_server.hpp"
#endif

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include <unistd.h>  // mkdtemp

namespace kauri_quota::testing {

namespace {

// Parses exactly `width` decimal digits of `s` at `pos`; -1 when they are not digits.
int digits(std::string_view s, std::size_t pos, std::size_t width) {
  if (pos + width > s.size()) return -1;
  int v = 0;
  for (std::size_t i = pos; i < pos + width; ++i) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

std::string two(unsigned v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02u", v % 100U);
  return buf;
}

}  // namespace

// --- Time ----------------------------------------------------------------------

local_date date(std::string_view ymd) {
  const int y = digits(ymd, 0, 4);
  const int m = digits(ymd, 5, 2);
  const int d = digits(ymd, 8, 2);
  const bool shape = ymd.size() == 10 && ymd[4] == '-' && ymd[7] == '-';
  const local_date day{std::chrono::year{y}, std::chrono::month{static_cast<unsigned>(m)},
                       std::chrono::day{static_cast<unsigned>(d)}};
  if (!shape || y < 0 || m < 0 || d < 0 || !day.ok()) {
    FAIL("malformed date in a test: \"" << std::string(ymd) << "\" (want YYYY-MM-DD)");
  }
  return day;
}

sys_time at(std::string_view iso) {
  const bool shape = iso.size() == 20 && iso[10] == 'T' && iso[13] == ':' && iso[16] == ':' && iso[19] == 'Z';
  const int h = digits(iso, 11, 2);
  const int mi = digits(iso, 14, 2);
  const int s = digits(iso, 17, 2);
  if (!shape || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59) {
    FAIL("malformed instant in a test: \"" << std::string(iso) << "\" (want YYYY-MM-DDTHH:MM:SSZ)");
  }
  const auto day = std::chrono::sys_days{date(iso.substr(0, 10))};
  return std::chrono::time_point_cast<std::chrono::microseconds>(day) + std::chrono::hours{h} +
         std::chrono::minutes{mi} + std::chrono::seconds{s};
}

std::string show(local_date d) {
  if (!d.ok()) return "(invalid date)";
  return std::to_string(static_cast<int>(d.year())) + "-" + two(static_cast<unsigned>(d.month())) + "-" +
         two(static_cast<unsigned>(d.day()));
}

std::string show(sys_time t) {
  const auto day = std::chrono::floor<std::chrono::days>(t);
  const auto in_day = t - day;
  const auto h = std::chrono::duration_cast<std::chrono::hours>(in_day);
  const auto m = std::chrono::duration_cast<std::chrono::minutes>(in_day - h);
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(in_day - h - m);
  const auto us = (in_day - h - m - s).count();
  char frac[16];
  std::snprintf(frac, sizeof frac, ".%06lld", static_cast<long long>(us));
  return show(local_date{day}) + "T" + two(static_cast<unsigned>(h.count())) + ":" +
         two(static_cast<unsigned>(m.count())) + ":" + two(static_cast<unsigned>(s.count())) + frac + "Z";
}

local_date next_day(local_date d) { return local_date{std::chrono::sys_days{d} + std::chrono::days{1}}; }

// --- Results ---------------------------------------------------------------------

std::string describe(const error& e) {
  std::string out;
  if (e.code.category() == quota_category()) {
    out = to_string(static_cast<errc>(e.code.value()));
  } else {
    out = std::string(e.code.category().name()) + " error";
  }
  out += " (" + std::to_string(e.code.value()) + "): " + (e.message.empty() ? "<empty message>" : e.message);
  return out;
}

// --- Databases -------------------------------------------------------------------

std::string backend_from_env() {
  const char* env = std::getenv("KQ_TEST_BACKEND");
  if (env == nullptr || *env == '\0') return "sqlite";
  return env;
}

temp_dir::temp_dir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = (base != nullptr && *base != '\0') ? base : "/tmp";
  pattern += "/kauri_quota_test.XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    FAIL("cannot create a temporary directory from " << pattern << ": " << std::strerror(errno));
  }
  path_ = buf.data();
}

temp_dir::temp_dir(temp_dir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }

temp_dir& temp_dir::operator=(temp_dir&& other) noexcept {
  if (this != &other) {
    if (!path_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
    path_ = std::move(other.path_);
    other.path_.clear();
  }
  return *this;
}

temp_dir::~temp_dir() {
  if (!path_.empty()) {
    std::error_code ec;  // teardown must not throw; a leftover directory is harmless
    std::filesystem::remove_all(path_, ec);
  }
}

test_db::~test_db() {
  // Close the database before its directory (or itself) goes away.
  store.reset();
#ifdef KAURI_QUOTA_TEST_POSTGRES
  if (backend == "postgresql" && !pg_database.empty()) {
    try {
      kq_test::pg_drop_database(pg_database);
    } catch (const std::exception&) {
      // A leftover database dies with the throw-away server.
    }
  }
#endif
}

std::shared_ptr<kauri_quota::storage> test_db::open_again(const open_options& opts) const {
  auto opened = open_storage(url, opts);
  if (!opened) FAIL("cannot open " << url << " a second time: " << describe(opened.error()));
  return std::shared_ptr<kauri_quota::storage>(std::move(opened).value());
}

namespace {

test_db make_sqlite_test_db(const test_db_options& opts) {
  test_db db;
  db.backend = "sqlite";
  db.dir.emplace();
  db.file = db.dir->path() / "quota.db";
  db.url = "sqlite:" + db.file.string();
  auto opened = open_storage(db.url, opts.open);
  if (!opened) FAIL("cannot open " << db.url << ": " << describe(opened.error()));
  db.store = std::shared_ptr<kauri_quota::storage>(std::move(opened).value());
  if (!db.store) FAIL("open_storage(" << db.url << ") returned a null storage");
  if (opts.migrate) {
    auto migrated = db.store->migrate({});
    if (!migrated) FAIL("cannot migrate " << db.url << ": " << describe(migrated.error()));
  }
  return db;
}

}  // namespace

#ifdef KAURI_QUOTA_TEST_POSTGRES
namespace {

/// A database migrated to the newest version, built once per server (by
/// whichever test process comes first) and copied by CREATE DATABASE for
/// each test that wants a migrated database: a copy takes a fraction of
/// the time of running every migration again. Each test still calls
/// migrate() on its copy, which finds nothing to do unless the template was
/// left by an older build on a server that outlived it.
const std::string& pg_migrated_template() {
  static const std::string name = [] {
    const std::string tpl = "kq_template_migrated";
    kq_test::pg_with_server_lock([&] {
      if (kq_test::pg_query("SELECT 1 FROM pg_database WHERE datname = '" + tpl + "'") == "1") return;
      // Built under another name and renamed when complete, so that a
      // process that died half way leaves no half-migrated template.
      const std::string building = kq_test::pg_create_database();
      {
        auto opened = open_storage(kq_test::pg_server_conninfo() + " dbname=" + building, {});
        if (!opened) throw std::runtime_error("cannot open the template database: " + describe(opened.error()));
        auto migrated = opened.value()->migrate({});
        if (!migrated) throw std::runtime_error("cannot migrate the template database: " + describe(migrated.error()));
      }  // every connection to it is closed here
      kq_test::pg_exec("ALTER DATABASE " + building + " RENAME TO " + tpl);
    });
    return tpl;
  }();
  return name;
}

}  // namespace
#endif

test_db make_postgres_test_db(const test_db_options& opts) {
#ifdef KAURI_QUOTA_TEST_POSTGRES
  test_db db;
  db.backend = "postgresql";
  try {
    db.pg_database =
        opts.migrate ? kq_test::pg_create_database_from(pg_migrated_template()) : kq_test::pg_create_database();
  } catch (const std::exception& e) {
    FAIL("cannot create a PostgreSQL test database: " << e.what());
  }
  db.url = kq_test::pg_server_conninfo() + " dbname=" + db.pg_database;
  auto opened = open_storage(db.url, opts.open);
  if (!opened) FAIL("cannot open " << db.url << ": " << describe(opened.error()));
  db.store = std::shared_ptr<kauri_quota::storage>(std::move(opened).value());
  if (opts.migrate) {
    auto migrated = db.store->migrate({});
    if (!migrated) FAIL("cannot migrate " << db.url << ": " << describe(migrated.error()));
  }
  return db;
#else
  (void)opts;
  FAIL("this build has no PostgreSQL backend (KAURI_QUOTA_WITH_POSTGRES=OFF)");
  return {};
#endif
}

test_db make_test_db(std::string_view backend, const test_db_options& opts) {
  if (backend == "sqlite") return make_sqlite_test_db(opts);
  if (backend == "postgresql" || backend == "postgres") return make_postgres_test_db(opts);
  FAIL("unknown test backend \"" << std::string(backend) << "\" (KQ_TEST_BACKEND must be sqlite or postgresql)");
  return {};
}

test_db make_test_db() { return make_test_db(backend_from_env()); }

// --- Audit -----------------------------------------------------------------------

std::map<local_date, audit_totals> audit_by_day(const std::vector<usage_event>& events) {
  std::map<local_date, audit_totals> out;
  for (const auto& e : events) {
    if (!e.usage_date) continue;
    auto& t = out[*e.usage_date];
    t.messages += e.messages_count;
    t.tokens += e.tokens_count;
    ++t.events;
  }
  return out;
}

std::vector<usage_event> all_events(storage& store, const user_id& user) {
  event_query q;
  q.user = user;
  q.limit = 10000;
  auto got = store.events(q);
  if (!got) FAIL("cannot read the audit log of " << user.str() << ": " << describe(got.error()));
  if (got.value().size() >= 10000) FAIL("more than 10000 audit rows for " << user.str() << "; the test is too big");
  return std::move(got).value();
}

void check_audit_matches_counters(storage& store, const user_id& user, sys_time now, const tier_id& default_tier,
                                  const std::vector<local_date>& also, std::source_location loc) {
  const auto file = loc.file_name();
  const auto line = static_cast<int>(loc.line());
  auto per_day = audit_by_day(all_events(store, user));
  for (const auto& d : also) per_day.try_emplace(d);
  // A user with a zone of its own has its day rows read directly: a
  // snapshot counts the user's own today whatever day it is asked for.
  const auto sub = store.get_subscription(user);
  const bool own_zone = sub && sub.value().time_zone.has_value();
  for (const auto& [day, sum] : per_day) {
    usage c;
    if (own_zone) {
      auto rows = store.usage_days(user, day, day);
      if (!rows) {
        ADD_FAIL_CHECK_AT(
            file, line,
            "cannot read the day rows of " << user.str() << " on " << show(day) << ": " << describe(rows.error()));
        continue;
      }
      if (!rows.value().empty()) {
        c.messages_today = rows.value().front().messages;
        c.tokens_today = rows.value().front().tokens;
      }
    } else {
      auto snap = store.snapshot(user, day, now, default_tier, std::chrono::hours{72});
      if (!snap) {
        ADD_FAIL_CHECK_AT(
            file, line,
            "cannot read the counters of " << user.str() << " on " << show(day) << ": " << describe(snap.error()));
        continue;
      }
      c = snap.value().counters;
    }
    if (c.messages_today != sum.messages || c.tokens_today != sum.tokens) {
      ADD_FAIL_CHECK_AT(file, line,
                        "audit rows of " << user.str() << " on " << show(day) << " add up to " << sum.messages
                                         << " messages / " << sum.tokens << " tokens (" << sum.events
                                         << " rows) but the counters say messages_today=" << c.messages_today
                                         << " tokens_today=" << c.tokens_today);
    }
  }
}

// --- Service fixture -----------------------------------------------------------------

namespace {

quota_service build_service(std::shared_ptr<kauri_quota::storage> store, std::shared_ptr<const kauri_quota::clock> c,
                            service_options opts) {
  opts.time_source = std::move(c);
  auto made = quota_service::create(std::move(store), std::move(opts));
  if (!made) FAIL("quota_service::create failed: " << describe(made.error()));
  return std::move(made).value();
}

}  // namespace

service_fixture::service_fixture(service_options opts, std::string_view start)
    : service_fixture(make_test_db(), std::move(opts), start) {}

namespace {

/// The zone a fixture asked for `opts` gives its users (KQ_TEST_USER_ZONES),
/// and the service zone it runs in instead.
std::optional<std::string> take_user_zone(service_options& opts) {
  const char* mode = std::getenv("KQ_TEST_USER_ZONES");  // NOLINT(concurrency-mt-unsafe): read before threads start
  if (mode == nullptr || std::string_view{mode} != "1" || opts.time_zone == "UTC") return std::nullopt;
  std::optional<std::string> user = opts.time_zone;
  opts.time_zone = *user == "Pacific/Kiritimati" ? "Pacific/Pago_Pago" : "Pacific/Kiritimati";
  return user;
}

}  // namespace

service_fixture::service_fixture(test_db database, service_options opts, std::string_view start)
    : db(std::move(database)), clock(std::make_shared<manual_clock>(at(start))), svc([&] {
        user_zone = take_user_zone(opts);
        return build_service(db.store, clock, std::move(opts));
      }()) {}

local_date service_fixture::local_day(sys_time t) const {
  if (!user_zone) return svc.day_of(t);
  service_options o;
  o.time_zone = *user_zone;
  return make_service(clock, o).day_of(t);
}

quota_service service_fixture::make_service(std::shared_ptr<const kauri_quota::clock> time_source,
                                            service_options opts) const {
  return build_service(db.store, std::move(time_source), std::move(opts));
}

user_id service_fixture::add_user(std::string_view id, std::optional<std::string_view> tier) {
  user_id u{std::string(id)};
  std::optional<tier_id> t;
  if (tier) t = tier_id{std::string(*tier)};
  auto made = svc.create_user(u, std::nullopt, t);
  if (!made) FAIL("cannot create user " << std::string(id) << ": " << describe(made.error()));
  if (user_zone) {
    auto zoned = svc.set_user_time_zone(u, user_zone);
    if (!zoned) FAIL("cannot give " << std::string(id) << " its zone: " << describe(zoned.error()));
  }
  return u;
}

tier service_fixture::set_limits(std::string_view tier_name, limit per_day, limit per_month, limit tokens) {
  tier_update up;
  up.id = tier_id{std::string(tier_name)};
  up.messages_per_day = per_day;
  up.messages_per_month = per_month;
  up.tokens_per_month = tokens;
  auto done = svc.update_tier(up);
  if (!done) FAIL("cannot update tier " << std::string(tier_name) << ": " << describe(done.error()));
  return std::move(done).value();
}

quota_info service_fixture::quota(const user_id& user) {
  auto q = svc.get_user_quota_info(user);
  if (!q) FAIL("get_user_quota_info(" << user.str() << ") failed: " << describe(q.error()));
  return std::move(q).value();
}

usage service_fixture::today_usage(const user_id& user) {
  auto u = svc.get_or_create_usage(user);
  if (!u) FAIL("get_or_create_usage(" << user.str() << ") failed: " << describe(u.error()));
  return std::move(u).value();
}

usage service_fixture::usage_on(const user_id& user, local_date day) {
  auto s = store().snapshot(user, day, now(), svc.options().default_tier, svc.options().grace_period);
  if (!s) FAIL("snapshot(" << user.str() << ", " << show(day) << ") failed: " << describe(s.error()));
  usage u = std::move(s).value().counters;
  if (u.usage_date == day) return u;
  // A user with a zone of its own is read at its own today: another day
  // comes from its stored day rows (the month to date as their sum).
  const local_date first = day.year() / day.month() / std::chrono::day{1};
  auto rows = store().usage_days(user, first, day);
  if (!rows) FAIL("usage_days(" << user.str() << ", " << show(day) << ") failed: " << describe(rows.error()));
  usage other;
  other.user = user;
  other.usage_date = day;
  for (const day_usage& d : rows.value()) {
    other.messages_this_month += d.messages;
    other.tokens_this_month += d.tokens;
    if (d.day == day) {
      other.messages_today = d.messages;
      other.tokens_today = d.tokens;
    }
  }
  return other;
}

std::size_t service_fixture::count_events(const user_id& user, std::string_view event_type) {
  std::size_t n = 0;
  for (const auto& e : events(user)) {
    if (e.event_type == event_type) ++n;
  }
  return n;
}

decision service_fixture::consume(const user_id& user, std::int64_t tokens, const request_context& ctx) {
  auto d = svc.try_consume(user, tokens, ctx);
  if (!d) FAIL("try_consume(" << user.str() << ", " << tokens << ") failed: " << describe(d.error()));
  return std::move(d).value();
}

int service_fixture::consume_n(const user_id& user, int n, std::int64_t tokens) {
  int allowed = 0;
  for (int i = 0; i < n; ++i) {
    if (consume(user, tokens).allowed) ++allowed;
  }
  return allowed;
}

void service_fixture::check_month_to_date(const user_id& user, local_date latest, std::source_location loc) {
  std::int64_t messages = 0;
  std::int64_t tokens = 0;
  const local_date first{latest.year(), latest.month(), std::chrono::day{1}};
  for (auto d = first; d <= latest; d = next_day(d)) {
    const auto u = usage_on(user, d);
    messages += u.messages_today;
    tokens += u.tokens_today;
  }
  const auto last = usage_on(user, latest);
  if (last.messages_this_month != messages || last.tokens_this_month != tokens) {
    ADD_FAIL_CHECK_AT(loc.file_name(), static_cast<int>(loc.line()),
                      "month-to-date of " << user.str() << " on " << show(latest) << " is messages_this_month="
                                          << last.messages_this_month << " tokens_this_month=" << last.tokens_this_month
                                          << " but the month's days add up to " << messages << " messages / " << tokens
                                          << " tokens");
  }
}

void service_fixture::check_audit(const user_id& user, const std::vector<local_date>& also, std::source_location loc) {
  auto days = also;
  days.push_back(today());
  check_audit_matches_counters(store(), user, now(), svc.options().default_tier, days, loc);
}

request_context with_request_id(std::string_view id) {
  request_context ctx;
  ctx.id = request_id{std::string(id)};
  return ctx;
}

service_options in_zone(std::string zone) {
  service_options o;
  o.time_zone = std::move(zone);
  return o;
}

// --- Spec values -------------------------------------------------------------------

quota_info expected_fresh_free_quota(const user_id& user, local_date day) {
  using std::chrono::sys_days;
  const auto first_of_next_month = (day.year() / day.month() / std::chrono::day{1}) + std::chrono::months{1};
  quota_info q;
  q.user = user;
  q.subscription_tier = tier_id{"free"};
  q.tier_name = "Free";
  q.tier_name_fr = "Gratuit";
  q.status = subscription_status::active;
  q.messages_per_day_limit = 5;
  q.messages_per_month_limit = 150;
  q.tokens_per_month_limit = 100'000;
  q.messages_remaining_today = 5;
  q.messages_remaining_month = 150;
  q.tokens_remaining_month = 100'000;
  q.can_send_message = true;
  q.usage_date = day;
  q.daily_resets_at = sys_time{sys_days{next_day(day)}};
  q.monthly_resets_at = sys_time{sys_days{first_of_next_month}};
  return q;
}

std::string show(const quota_info& q) {
  const auto lim = [](const limit& l) { return l ? std::to_string(*l) : std::string("unlimited"); };
  const auto yes = [](bool b) { return b ? "true" : "false"; };
  std::string out = "{user=" + q.user.str() + " tier=" + q.subscription_tier.str() + " name=" + q.tier_name +
                    " name_fr=" + q.tier_name_fr + " status=" + name_of(q.status);
  out += " limits=" + lim(q.messages_per_day_limit) + "/" + lim(q.messages_per_month_limit) + "/" +
         lim(q.tokens_per_month_limit);
  out += " used=" + std::to_string(q.messages_today) + "/" + std::to_string(q.messages_this_month) + " tokens " +
         std::to_string(q.tokens_today) + "/" + std::to_string(q.tokens_this_month);
  out += " remaining=" + lim(q.messages_remaining_today) + "/" + lim(q.messages_remaining_month) + "/" +
         lim(q.tokens_remaining_month);
  out += std::string(" can_send=") + yes(q.can_send_message) + " exceeded=" + yes(q.is_quota_exceeded) +
         " needs_upgrade=" + yes(q.needs_upgrade) + " warning=" + yes(q.warning_threshold_reached);
  out += " day=" + show(q.usage_date) + " daily_reset=" + show(q.daily_resets_at) +
         " monthly_reset=" + show(q.monthly_resets_at) + "}";
  return out;
}

// --- Names ----------------------------------------------------------------------------

const char* name_of(limit_kind k) noexcept {
  switch (k) {
    case limit_kind::none:
      return "none";
    case limit_kind::daily:
      return "daily";
    case limit_kind::monthly:
      return "monthly";
    case limit_kind::tokens:
      return "tokens";
  }
  return "(bad limit_kind)";
}

const char* name_of(reservation_state s) noexcept {
  switch (s) {
    case reservation_state::open:
      return "open";
    case reservation_state::committed:
      return "committed";
    case reservation_state::released:
      return "released";
    case reservation_state::expired:
      return "expired";
  }
  return "(bad reservation_state)";
}

const char* name_of(subscription_status s) noexcept {
  switch (s) {
    case subscription_status::active:
      return "active";
    case subscription_status::trialing:
      return "trialing";
    case subscription_status::past_due:
      return "past_due";
    case subscription_status::canceled:
      return "canceled";
    case subscription_status::expired:
      return "expired";
  }
  return "(bad subscription_status)";
}

}  // namespace kauri_quota::testing
