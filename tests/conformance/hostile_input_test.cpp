// Hostile input through the public API, on every backend: SQL-injection
// payloads, quotes of all kinds, embedded NUL bytes, invalid UTF-8, control
// characters, 1 MB values, extreme counts, unknown tiers and reservations,
// bad time zones.
//
// The rules checked here:
//   - a value that is valid (an injection payload is a perfectly good user id)
//     is accepted and stored verbatim, byte for byte;
//   - a value that is not is refused with a short, clean message (under 500
//     bytes, no raw control bytes, never the raw oversized input);
//   - a refused call changes nothing: the quota, subscription and audit log
//     of every known user, the tier list and the schema read the same
//     before and after;
//   - the schema survives: the tiers are still there, the users still exist.
//
// Which error code is the right one:
//   - a malformed value (wrong length, NUL, invalid UTF-8, control
//     characters, forbidden characters in a tier id, negative or
//     out-of-range counts) is invalid_argument, whatever the call;
//   - a well-formed user id that is not in the database is unknown_user;
//   - a well-formed tier id that is not a tier is unknown_tier;
//   - a well-formed reservation id that no reservation has is
//     reservation_not_found (reservation ids are opaque to callers: any
//     well-formed id might have been issued, so "not found" is the answer);
//   - a request that is valid on its own but would push a counter past the
//     library's bound (10^12) is invalid_argument, not a quota denial: no
//     configured limit was hit, the library's own range was.
#include "support/fixtures.hpp"
#include "support/utf8.hpp"  // an independent UTF-8 reader: the test must not trust the library's

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <source_location>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

using namespace kauri_quota;
using namespace kauri_quota::testing;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t one_mb = std::size_t{1} << 20;
constexpr std::int64_t bound = 1'000'000'000'000;  // 10^12, the documented bound on counts
constexpr std::size_t max_message_bytes = 500;

bool is_control(char32_t c) { return c < 0x20 || (c >= 0x7F && c <= 0x9F); }

/// The documented rule for user ids and request ids: 1-128 bytes of valid
/// UTF-8 without control characters.
bool valid_id(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  const auto cps = decode_utf8(s);
  if (!cps) return false;
  for (const char32_t c : *cps)
    if (is_control(c)) return false;
  return true;
}

/// Free text (email, ip, user agent, names, metadata) that no backend can
/// store verbatim or that is far beyond any sane size: must be refused.
bool must_refuse_text(std::string_view s) {
  return s.size() >= one_mb || s.find('\0') != std::string_view::npos || !decode_utf8(s).has_value();
}

/// A printable rendering of arbitrary bytes for diagnostics.
std::string printable(std::string_view s, std::size_t max = 80) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < max; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b >= 0x20 && b < 0x7F && b != '\\') {
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

// --- Hostile values ----------------------------------------------------------

enum class kind {
  valid,     ///< valid UTF-8 without control characters, at most 128 bytes
  control,   ///< valid UTF-8 with a control character (no NUL)
  nul,       ///< contains a NUL byte
  bad_utf8,  ///< not valid UTF-8
  huge,      ///< about 1 MB
};

struct sample {
  std::string label;
  std::string value;
  kind k = kind::valid;
};

std::string repeat(std::string_view unit, std::size_t bytes) {
  std::string out;
  out.reserve(bytes + unit.size());
  while (out.size() + unit.size() <= bytes) out += unit;
  return out;
}

std::vector<sample> injection_payloads() {
  return {
      {"drop users", "'; DROP TABLE users; --"},
      {"or 1=1", "x' OR '1'='1"},
      {"delete usage_logs", "\"; DELETE FROM usage_logs; --"},
      {"Bobby Tables", "Robert'); DROP TABLE subscription_tiers;--"},
      {"escaped quote", "\\'; DROP TABLE user_usage; --"},
      {"backslashes", "\\\\server\\share\\"},
      {"trailing backslash", "user\\"},
      {"positional parameter", "$1"},
      {"dollar quoting", "$$; DROP TABLE users; $$"},
      {"printf format", "%s%s%s%n"},
      {"fmt format", "{} {0} {:>1000000}"},
      {"literal \\x00", "\\x00"},
      {"LIKE any", "%"},
      {"LIKE one", "_"},
      {"comment", "/* */ -- #"},
      {"stacked sleep", "1; SELECT pg_sleep(2); --"},
      {"union select", "' UNION SELECT sql FROM sqlite_master --"},
      {"attach", "x'; ATTACH DATABASE '/tmp/kq-hostile-pwned.db' AS p; --"},
      {"copy to program", "'; COPY users TO PROGRAM 'id'; --"},
  };
}

std::vector<sample> quote_payloads() {
  return {
      {"single quote", "'"},
      {"double quote", "\""},
      {"backtick", "`"},
      {"two single quotes", "''"},
      {"mixed quotes", "'\"`'\"`"},
      {"quote then backslash", "'\\"},
      {"typographic quotes", "\xE2\x80\x98\xE2\x80\x99\xE2\x80\x9C\xE2\x80\x9D\xC2\xAB\xC2\xBB"},
      {"fullwidth apostrophe", "\xEF\xBC\x87; DROP TABLE users; --"},
  };
}

std::vector<sample> valid_unicode() {
  return {
      {"emoji", "\xF0\x9F\x98\x80"},
      {"emoji ZWJ family", "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7"},
      {"Arabic", "\xD9\x85\xD8\xB3\xD8\xAA\xD8\xAE\xD8\xAF\xD9\x85-\xD9\xA1\xD9\xA2\xD9\xA3"},
      {"Chinese", "\xE7\x94\xA8\xE6\x88\xB7\xE5\x90\x8D-\xE6\xB5\x8B\xE8\xAF\x95"},
      {"combining marks",
       "Z\xCD\x91\xCD\x9B\xCC\x81"
       "a\xCC\x8A\xCC\x88"},
      {"precomposed e-acute", "caf\xC3\xA9"},
      {"decomposed e-acute", "cafe\xCC\x81"},
      {"U+10FFFF", "max-\xF4\x8F\xBF\xBF"},
      {"128 bytes of emoji", repeat("\xF0\x9F\x98\x80", 128)},
      {"upper case", "ALICE"},
      {"spaces around", " alice "},
  };
}

std::vector<sample> control_values() {
  return {
      {"ANSI escape", "\x1B[31mred\x1B[0m", kind::control},
      {"carriage return", "a\rb", kind::control},
      {"tab", "a\tb", kind::control},
      {"DEL", "a\x7F", kind::control},
      {"C1 CSI",
       "a\xC2\x9B"
       "2J",
       kind::control},
      {"bell", "\x07", kind::control},
  };
}

std::vector<sample> nul_values() {
  return {
      {"NUL inside", std::string("ab\0cd", 5), kind::nul},
      {"NUL first", std::string("\0ab", 3), kind::nul},
      {"NUL last", std::string("ab\0", 3), kind::nul},
      {"NUL alone", std::string(1, '\0'), kind::nul},
      {"NUL before an injection", std::string("a\0'; DROP TABLE users; --", 25), kind::nul},
  };
}

std::vector<sample> bad_utf8_values() {
  return {
      {"lone continuation byte",
       "\x80"
       "abc",
       kind::bad_utf8},
      {"trailing continuation byte", "abc\xBF", kind::bad_utf8},
      {"overlong NUL",
       "a\xC0\x80"
       "b",
       kind::bad_utf8},
      {"overlong slash (3 bytes)", "a\xE0\x80\xAF", kind::bad_utf8},
      {"overlong slash (4 bytes)", "a\xF0\x80\x80\xAF", kind::bad_utf8},
      {"high surrogate", "a\xED\xA0\x80", kind::bad_utf8},
      {"low surrogate", "a\xED\xBF\xBF", kind::bad_utf8},
      {"CESU-8 surrogate pair", "\xED\xA0\xBD\xED\xB8\x80", kind::bad_utf8},
      {"0xFF", "\xFF", kind::bad_utf8},
      {"0xFE 0xFF", "a\xFE\xFF", kind::bad_utf8},
      {"above U+10FFFF", "\xF4\x90\x80\x80", kind::bad_utf8},
      {"5-byte sequence", "\xF8\x88\x80\x80\x80", kind::bad_utf8},
      {"truncated sequence", "euro\xE2\x82", kind::bad_utf8},
      {"Latin-1 quote",
       "O\x92"
       "Brien",
       kind::bad_utf8},
  };
}

std::vector<sample> huge_values() {
  return {
      {"1 MB of 'a'", std::string(one_mb, 'a'), kind::huge},
      {"1 MB of injection", repeat("'; DROP TABLE users; --", one_mb), kind::huge},
      {"1 MB of emoji", repeat("\xF0\x9F\x98\x80", one_mb), kind::huge},
      {"1 MB of 0xFF", std::string(one_mb, '\xFF'), kind::huge},
  };
}

std::vector<sample> concat(std::initializer_list<std::vector<sample>> parts) {
  std::vector<sample> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

/// Every hostile value.
std::vector<sample> all_hostile() {
  return concat({injection_payloads(), quote_payloads(), valid_unicode(), control_values(), nul_values(),
                 bad_utf8_values(), huge_values()});
}

/// Values that are not valid ids (refused as user, request and reservation ids).
std::vector<sample> malformed_ids() {
  return concat({control_values(), nul_values(), bad_utf8_values(), huge_values()});
}

// --- Checking errors -------------------------------------------------------------

/// The message of a refusal is short, printable and does not echo an
/// oversized input.
void check_clean_message(const error& e, std::string_view input,
                         std::source_location loc = std::source_location::current()) {
  const auto file = loc.file_name();
  const auto line = static_cast<int>(loc.line());
  const std::string& m = e.message;
  if (m.empty()) ADD_FAIL_CHECK_AT(file, line, "error " << describe(e) << " has an empty message");
  if (m.size() >= max_message_bytes)
    ADD_FAIL_CHECK_AT(file, line, "error message of " << m.size() << " bytes: " << printable(m, 300));
  for (const char c : m) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b == 0x7F) {
      ADD_FAIL_CHECK_AT(file, line, "error message contains the raw control byte " << int{b} << ": " << printable(m));
      break;
    }
  }
  if (!decode_utf8(m)) ADD_FAIL_CHECK_AT(file, line, "error message is not valid UTF-8: " << printable(m));
  if (input.size() > 200 && m.find(input.substr(0, 200)) != std::string::npos)
    ADD_FAIL_CHECK_AT(file, line, "error message echoes 200+ bytes of the input: " << printable(m));
}

/// `r` failed with one of `codes`, with a clean message.
template <class T>
bool refused(const result<T>& r, const std::vector<errc>& codes, std::string_view input,
             std::source_location loc = std::source_location::current()) {
  const auto file = loc.file_name();
  const auto line = static_cast<int>(loc.line());
  if (r.has_value()) {
    ADD_FAIL_CHECK_AT(file, line,
                      "expected error " << std::string(to_string(codes.front())) << " but the call succeeded");
    return false;
  }
  bool matched = false;
  for (const errc c : codes) matched = matched || r.error().is(c);
  if (!matched) {
    std::string expected;
    for (const errc c : codes) expected += std::string(expected.empty() ? "" : " or ") + to_string(c);
    ADD_FAIL_CHECK_AT(file, line, "expected error " << expected << " but got " << describe(r.error()));
  }
  check_clean_message(r.error(), input, loc);
  return matched;
}

template <class T>
bool refused(const result<T>& r, errc code, std::string_view input,
             std::source_location loc = std::source_location::current()) {
  return refused(r, std::vector<errc>{code}, input, loc);
}

// --- What must not change ----------------------------------------------------------

std::string dump(const usage_event& e) {
  std::ostringstream o;
  o << e.id << '|' << printable(e.user.str(), 200) << '|' << e.event_type << '|' << e.messages_count << '|'
    << e.tokens_count << '|' << printable(e.quota_tier.value_or("<null>")) << '|'
    << printable(e.request_ip.value_or("<null>")) << '|' << printable(e.user_agent.value_or("<null>"), 200) << '|'
    << printable(e.event_metadata.value_or("<null>"), 200) << '|' << (e.usage_date ? show(*e.usage_date) : "-") << '|'
    << show(e.event_timestamp) << '\n';
  return o.str();
}

std::string dump(const quota_info& q) {
  std::ostringstream o;
  const auto lim = [](const limit& l) { return l ? std::to_string(*l) : std::string("unlimited"); };
  o << printable(q.user.str(), 200) << " tier=" << q.subscription_tier.str() << " name=" << printable(q.tier_name)
    << '/' << printable(q.tier_name_fr) << " status=" << name_of(q.status)
    << " limits=" << lim(q.messages_per_day_limit) << ',' << lim(q.messages_per_month_limit) << ','
    << lim(q.tokens_per_month_limit) << " used=" << q.messages_today << ',' << q.messages_this_month << ','
    << q.tokens_today << ',' << q.tokens_this_month << " remaining=" << lim(q.messages_remaining_today) << ','
    << lim(q.messages_remaining_month) << ',' << lim(q.tokens_remaining_month) << " flags=" << q.can_send_message
    << q.is_quota_exceeded << q.needs_upgrade << q.warning_threshold_reached << " day=" << show(q.usage_date)
    << " resets=" << show(q.daily_resets_at) << ',' << show(q.monthly_resets_at) << '\n';
  return o.str();
}

std::string dump(const subscription& s) {
  std::ostringstream o;
  const auto t = [](const std::optional<sys_time>& v) { return v ? show(*v) : std::string("-"); };
  o << printable(s.user.str(), 200) << " email=" << printable(s.email.value_or("<null>"), 200)
    << " tier=" << s.tier.str() << " status=" << name_of(s.status) << " start=" << t(s.start_date)
    << " end=" << t(s.end_date) << " trial=" << t(s.trial_end_date) << " created=" << t(s.created_at) << '\n';
  return o.str();
}

std::string dump(const tier& t) {
  std::ostringstream o;
  const auto lim = [](const limit& l) { return l ? std::to_string(*l) : std::string("unlimited"); };
  o << t.id.str() << " name=" << printable(t.name, 200) << '/' << printable(t.name_fr, 200)
    << " limits=" << lim(t.messages_per_day) << ',' << lim(t.messages_per_month) << ',' << lim(t.tokens_per_month)
    << " price=" << t.price_fcfa << " order=" << t.display_order << " visible=" << t.is_visible << " features=";
  for (const auto& [k, v] : t.features) o << k << ':' << v << ';';
  o << '\n';
  return o.str();
}

/// A fingerprint of the database read through the public API.
struct db_state {
  std::string users;   ///< quota info and subscription of every known user
  std::string events;  ///< every audit row of every known user
  std::string tiers;   ///< every tier, hidden ones too
  std::string schema;  ///< schema version and migrations
  std::size_t tier_count = 0;

  friend bool operator==(const db_state&, const db_state&) = default;
};

db_state capture(service_fixture& f, const std::vector<user_id>& known) {
  db_state s;
  for (const auto& u : known) {
    s.users += dump(must(f.svc.get_user_quota_info(u)));
    s.users += dump(must(f.svc.get_subscription(u)));
    event_query q;
    q.user = u;
    q.limit = 10000;
    for (const auto& e : must(f.svc.get_events(q))) s.events += dump(e);
  }
  const auto tiers = must(f.svc.get_all_tiers(false));
  s.tier_count = tiers.size();
  for (const auto& t : tiers) s.tiers += dump(t);
  s.schema = "version " + std::to_string(must(f.store().schema_version())) + "\n";
  for (const auto& m : must(f.store().migrations()))
    s.schema += std::to_string(m.version) + ' ' + m.name + ' ' + (m.applied_at ? show(*m.applied_at) : "-") + '\n';
  return s;
}

void check_unchanged(const db_state& before, const db_state& after,
                     std::source_location loc = std::source_location::current()) {
  const auto file = loc.file_name();
  const auto line = static_cast<int>(loc.line());
  if (after.users != before.users)
    ADD_FAIL_CHECK_AT(file, line,
                      "users changed\n--- before ---\n"
                          << before.users << "--- after ---\n"
                          << after.users);
  if (after.events != before.events)
    ADD_FAIL_CHECK_AT(file, line,
                      "audit log changed\n--- before ---\n"
                          << before.events << "--- after ---\n"
                          << after.events);
  if (after.tiers != before.tiers)
    ADD_FAIL_CHECK_AT(file, line,
                      "tiers changed\n--- before ---\n"
                          << before.tiers << "--- after ---\n"
                          << after.tiers);
  if (after.schema != before.schema)
    ADD_FAIL_CHECK_AT(file, line,
                      "schema changed\n--- before ---\n"
                          << before.schema << "--- after ---\n"
                          << after.schema);
}

/// The four seeded tiers are all still there.
void check_four_tiers(service_fixture& f, std::source_location loc = std::source_location::current()) {
  const auto tiers = must(f.svc.get_all_tiers(false));
  std::vector<std::string> ids;
  for (const auto& t : tiers) ids.push_back(t.id.str());
  const std::vector<std::string> expected{"free", "pro", "max", "enterprise"};
  if (ids != expected) {
    std::string got;
    for (const auto& id : ids) got += id + ' ';
    ADD_FAIL_CHECK_AT(loc.file_name(), static_cast<int>(loc.line()), "tiers are now: " << got);
  }
}

std::vector<usage_event> events_of(service_fixture& f, const user_id& u) {
  event_query q;
  q.user = u;
  q.limit = 10000;
  return must(f.svc.get_events(q));
}

/// The newest audit row of `u` with this type (fails the test when none).
usage_event newest_event(service_fixture& f, const user_id& u, std::string_view type) {
  for (const auto& e : events_of(f, u))
    if (e.event_type == type) return e;
  FAIL("no " << std::string(type) << " event for " << printable(u.str()));
  return {};
}

/// Tier ids are names like "free" or "pro": 1-20 characters of [a-z0-9_-].
/// A value of that shape that is not a tier is unknown_tier; anything else is
/// malformed (invalid_argument), except that an upper-case variant of such a
/// name may be answered either way.
std::vector<errc> expected_for_tier_id(std::string_view s) {
  const auto in = [&](auto pred) {
    for (const char c : s)
      if (!pred(c)) return false;
    return true;
  };
  const bool lower_shape = !s.empty() && s.size() <= 20 && in([](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
  if (lower_shape) return {errc::unknown_tier};
  const bool any_case_shape = !s.empty() && s.size() <= 20 && in([](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
  if (any_case_shape) return {errc::invalid_argument, errc::unknown_tier};
  return {errc::invalid_argument};
}

request_context ctx_with_id(std::string id) {
  request_context ctx;
  ctx.id = request_id{std::move(id)};
  return ctx;
}

}  // namespace

TEST_CASE("hostile: injection and quoting payloads are ordinary user ids, stored verbatim, and the schema survives") {
  service_fixture f;
  const auto alice = f.add_user("alice");
  REQUIRE(f.consume(alice).allowed);
  const auto before = capture(f, {alice});

  std::vector<user_id> created;
  for (const auto& p : concat({injection_payloads(), quote_payloads()})) {
    INFO("user id: " << p.label << " = " << printable(p.value));
    REQUIRE(valid_id(p.value));
    const user_id u{p.value};
    const auto sub = f.svc.create_user(u, std::nullopt, tier_id{"pro"});
    REQUIRE_MESSAGE(sub.has_value(), "a valid user id was refused: " << describe(sub.error()));
    created.push_back(u);
    CHECK(sub.value().user.str() == p.value);
    CHECK(must(f.svc.get_subscription(u)).user.str() == p.value);

    request_context ctx;
    ctx.id = request_id{p.value};
    ctx.user_agent = p.value;
    const auto d = must(f.svc.try_consume(u, 7, ctx));
    CHECK(d.allowed);
    CHECK(d.quota.user.str() == p.value);
    must(f.svc.increment_usage(u, 2, 3));
    const auto res = must(f.svc.reserve(u, 11));
    REQUIRE(res.reservation.has_value());
    CHECK(must(f.svc.get_reservation(*res.reservation)).user.str() == p.value);
    must(f.svc.commit(*res.reservation, 5));

    const auto info = must(f.svc.get_user_quota_info(u));
    CHECK(info.user.str() == p.value);
    CHECK(info.messages_today == 4);
    CHECK(info.tokens_today == 15);
    CHECK(info.subscription_tier.str() == "pro");

    const auto events = events_of(f, u);
    CHECK(events.size() >= 4);
    for (const auto& e : events) CHECK_MESSAGE(e.user.str() == p.value, "event of " << printable(e.user.str()));
    CHECK(newest_event(f, u, "message_sent").user_agent == p.value);
    f.check_audit(u);
  }

  // A reset aimed at an injection-shaped id touches that user only.
  for (const auto& u : created) {
    INFO("reset of " << printable(u.str()));
    CHECK(must(f.svc.reset_daily_quotas(u)) <= 1);
    CHECK(f.quota(u).messages_today == 0);
  }
  check_unchanged(before, capture(f, {alice}));
  check_four_tiers(f);
  for (const auto& u : created) CHECK(must(f.svc.get_subscription(u)).user == u);
  CHECK(f.consume(alice).allowed);  // the tables still work
}

TEST_CASE("hostile: valid Unicode user ids are accepted, kept distinct and round-trip byte for byte") {
  service_fixture f;
  const auto samples = valid_unicode();
  std::vector<user_id> users;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const auto& s = samples[i];
    INFO("user id: " << s.label << " = " << printable(s.value));
    REQUIRE(valid_id(s.value));
    const user_id u{s.value};
    const auto sub = f.svc.create_user(u, s.value, tier_id{"max"});
    REQUIRE_MESSAGE(sub.has_value(), "a valid Unicode user id was refused: " << describe(sub.error()));
    CHECK(sub.value().user.str() == s.value);
    CHECK(sub.value().email == s.value);
    users.push_back(u);
    // A different number of messages per user shows that no two ids were
    // folded together (NFC vs NFD, case, surrounding spaces).
    must(f.svc.increment_usage(u, static_cast<std::int64_t>(i) + 1, 10));
    request_context ctx;
    ctx.user_agent = s.value;
    CHECK(must(f.svc.try_consume(u, 0, ctx)).allowed);
  }
  // "alice" itself was never created: " alice " and "ALICE" are other users.
  check_error(f.svc.get_subscription(user_id{"alice"}), errc::unknown_user);

  for (std::size_t i = 0; i < samples.size(); ++i) {
    const auto& s = samples[i];
    INFO("user id: " << s.label << " = " << printable(s.value));
    const auto info = must(f.svc.get_user_quota_info(users[i]));
    CHECK(info.user.str() == s.value);
    CHECK(info.messages_today == static_cast<std::int64_t>(i) + 2);
    const auto sub = must(f.svc.get_subscription(users[i]));
    CHECK(sub.user.str() == s.value);
    CHECK(sub.email == s.value);
    const auto events = events_of(f, users[i]);
    REQUIRE(events.size() >= 2);
    for (const auto& e : events) CHECK_MESSAGE(e.user.str() == s.value, "event of " << printable(e.user.str()));
    const auto sent = newest_event(f, users[i], "message_sent");
    CHECK(sent.user_agent == s.value);
    f.check_audit(users[i]);
  }

  // One byte past the limit in multi-byte characters is still too long.
  const std::string too_long = repeat("\xF0\x9F\x98\x80", 128) + "x";
  refused(f.svc.create_user(user_id{too_long}), errc::invalid_argument, too_long);
  check_four_tiers(f);
}

TEST_CASE(
    "hostile: malformed user ids are invalid_argument in every call, with a short clean message, and change nothing") {
  service_fixture f;
  const auto alice = f.add_user("alice");
  const auto bob = f.add_user("bob", "pro");
  REQUIRE(f.consume(alice).allowed);
  REQUIRE(f.consume(bob, 5).allowed);
  const auto before = capture(f, {alice, bob});

  auto values = malformed_ids();
  // Traps for code that stops at the first NUL: each would name a real user.
  values.push_back({"alice then NUL", std::string("alice\0", 6), kind::nul});
  values.push_back({"alice NUL evil", std::string("alice\0evil", 10), kind::nul});
  values.push_back({"bob NUL injection", std::string("bob\0' OR '1'='1", 15), kind::nul});
  values.push_back({"empty", "", kind::control});
  values.push_back({"129 bytes of quotes", std::string(129, '\''), kind::huge});

  for (const auto& s : values) {
    INFO("user id: " << s.label << " = " << printable(s.value));
    REQUIRE_FALSE(valid_id(s.value));
    const user_id u{s.value};
    const std::string& in = s.value;
    refused(f.svc.create_user(u), errc::invalid_argument, in);
    refused(f.svc.create_user(u, std::string("x@example.com"), tier_id{"pro"}), errc::invalid_argument, in);
    refused(f.svc.get_subscription(u), errc::invalid_argument, in);
    refused(f.svc.assign_default_subscription(u), errc::invalid_argument, in);
    refused(f.svc.upgrade_subscription(u, tier_id{"max"}), errc::invalid_argument, in);
    refused(f.svc.get_or_create_usage(u), errc::invalid_argument, in);
    refused(f.svc.get_user_quota_info(u), errc::invalid_argument, in);
    refused(f.svc.get_usage_stats(u), errc::invalid_argument, in);
    refused(f.svc.can_send_message(u), errc::invalid_argument, in);
    refused(f.svc.try_consume(u, 1), errc::invalid_argument, in);
    refused(f.svc.reserve(u, 1), errc::invalid_argument, in);
    refused(f.svc.increment_usage(u, 1, 1), errc::invalid_argument, in);
    refused(f.svc.reset_daily_quotas(u), errc::invalid_argument, in);
    refused(f.svc.reset_monthly_quotas(u), errc::invalid_argument, in);
    refused(f.svc.log_usage_event(u, "note", 0, 0), errc::invalid_argument, in);
    event_query q;
    q.user = u;
    refused(f.svc.get_events(q), errc::invalid_argument, in);
  }
  check_unchanged(before, capture(f, {alice, bob}));
  check_four_tiers(f);
}

TEST_CASE("hostile: request ids: valid payloads are idempotency keys taken verbatim, malformed ones are refused") {
  service_fixture f;
  const auto u = f.add_user("keys", "enterprise");
  const auto recorder = f.add_user("recorder", "enterprise");

  // Every valid payload is a fresh key the first time (no wildcard, quote or
  // normalisation makes it match another) and a replay the second time.
  std::int64_t counted = 0;
  for (const auto& p : concat({injection_payloads(), quote_payloads(), valid_unicode()})) {
    INFO("request id: " << p.label << " = " << printable(p.value));
    REQUIRE(valid_id(p.value));
    const auto first = must(f.svc.try_consume(u, 3, ctx_with_id(p.value)));
    CHECK(first.allowed);
    CHECK_FALSE(first.replayed);
    const auto again = must(f.svc.try_consume(u, 3, ctx_with_id(p.value)));
    CHECK(again.replayed);
    ++counted;
    CHECK(f.quota(u).messages_today == counted);
    // The same key for another user is another key.
    const auto rec = must(f.svc.increment_usage(recorder, 1, 1, ctx_with_id(p.value)));
    const auto rec_again = must(f.svc.increment_usage(recorder, 1, 1, ctx_with_id(p.value)));
    CHECK(rec_again == rec);
    CHECK(f.quota(recorder).messages_today == counted);
  }
  f.check_audit(u);
  f.check_audit(recorder);

  // Malformed keys, including "consumed key + NUL": a backend that stopped at
  // the NUL would answer with a replay of that key.
  must(f.svc.try_consume(u, 3, ctx_with_id("k")));
  ++counted;
  const auto before = capture(f, {u});
  auto values = malformed_ids();
  values.push_back({"used key then NUL", std::string("k\0", 2), kind::nul});
  values.push_back({"used key NUL junk", std::string("k\0junk", 6), kind::nul});
  values.push_back({"empty", "", kind::control});
  for (const auto& s : values) {
    INFO("request id: " << s.label << " = " << printable(s.value));
    refused(f.svc.try_consume(u, 3, ctx_with_id(s.value)), errc::invalid_argument, s.value);
    refused(f.svc.reserve(u, 3, ctx_with_id(s.value)), errc::invalid_argument, s.value);
    refused(f.svc.increment_usage(u, 1, 1, ctx_with_id(s.value)), errc::invalid_argument, s.value);
    refused(f.svc.upgrade_subscription(u, tier_id{"max"}, ctx_with_id(s.value)), errc::invalid_argument, s.value);
  }
  check_unchanged(before, capture(f, {u}));
  CHECK(f.quota(u).messages_today == counted);
}

TEST_CASE("hostile: emails are stored verbatim or refused, and a refused create_user creates nothing") {
  service_fixture f;
  const auto alice = f.add_user("alice");
  REQUIRE(f.consume(alice).allowed);
  const auto values = all_hostile();
  for (std::size_t i = 0; i < values.size(); ++i) {
    const auto& s = values[i];
    INFO("email: " << s.label << " = " << printable(s.value));
    const user_id u{"mail-" + std::to_string(i)};
    const auto before = capture(f, {alice});
    const auto made = f.svc.create_user(u, s.value);
    if (must_refuse_text(s.value)) CHECK_FALSE(made.has_value());
    if (made) {
      CHECK(made.value().email == s.value);
      CHECK(must(f.svc.get_subscription(u)).email == s.value);
    } else {
      refused(made, errc::invalid_argument, s.value);
      check_error(f.svc.get_subscription(u), errc::unknown_user);
      check_unchanged(before, capture(f, {alice}));
    }
  }
  check_four_tiers(f);
}

TEST_CASE("hostile: ip addresses and user agents are recorded verbatim in the audit log or refused") {
  service_fixture f;
  const auto u = f.add_user("agent", "enterprise");
  for (const bool as_ip : {true, false}) {
    for (const auto& s : all_hostile()) {
      INFO((as_ip ? "ip: " : "user agent: ") << s.label << " = " << printable(s.value));
      request_context ctx;
      (as_ip ? ctx.ip : ctx.user_agent) = s.value;
      const auto before = capture(f, {u});
      const auto used_before = f.quota(u).messages_today;
      const auto d = f.svc.try_consume(u, 1, ctx);
      if (must_refuse_text(s.value)) CHECK_FALSE(d.has_value());
      if (d) {
        CHECK(d.value().allowed);
        const auto e = newest_event(f, u, "message_sent");
        if (as_ip) {
          CHECK(e.request_ip == s.value);
        } else {
          CHECK(e.user_agent == s.value);
        }
        CHECK(f.quota(u).messages_today == used_before + 1);
      } else {
        refused(d, errc::invalid_argument, s.value);
        // The same value must be refused by every call that takes a context.
        refused(f.svc.reserve(u, 1, ctx), errc::invalid_argument, s.value);
        refused(f.svc.increment_usage(u, 1, 1, ctx), errc::invalid_argument, s.value);
        refused(f.svc.log_usage_event(u, "note", 0, 0, ctx), errc::invalid_argument, s.value);
        check_unchanged(before, capture(f, {u}));
      }
    }
  }
  f.check_audit(u);
}

TEST_CASE("hostile: event types: injection is refused or stored verbatim, and a type filter matches only that type") {
  service_fixture f;
  const auto u = f.add_user("audited");
  must(f.svc.log_usage_event(u, "note", 0, 0));
  REQUIRE(f.consume(u).allowed);
  for (const auto& s : all_hostile()) {
    INFO("event type: " << s.label << " = " << printable(s.value));
    const auto before = capture(f, {u});
    const auto logged = f.svc.log_usage_event(u, s.value, 0, 0);
    if (must_refuse_text(s.value)) CHECK_FALSE(logged.has_value());
    if (logged) {
      CHECK(logged.value().event_type == s.value);
      CHECK(newest_event(f, u, s.value).event_type == s.value);
    } else {
      refused(logged, errc::invalid_argument, s.value);
      check_unchanged(before, capture(f, {u}));
    }
    // As a filter: an error, or only rows of exactly that type ("%" or
    // "x' OR '1'='1" must not return every row).
    event_query q;
    q.user = u;
    q.event_type = s.value;
    const auto filtered = f.svc.get_events(q);
    if (filtered) {
      for (const auto& e : filtered.value())
        CHECK_MESSAGE(e.event_type == s.value, "the filter returned a " << printable(e.event_type) << " row");
    } else {
      refused(filtered, errc::invalid_argument, s.value);
    }
  }
  f.check_audit(u);
}

TEST_CASE(
    "hostile: event metadata: JSON objects holding payloads are stored verbatim, anything else is refused on every "
    "backend") {
  service_fixture f;
  const auto u = f.add_user("meta");
  REQUIRE(f.consume(u).allowed);

  // Valid JSON objects (RFC 8259) whose strings carry the payloads.
  const std::vector<std::string> valid{
      R"({"note":"'; DROP TABLE users; --"})",
      R"({"q":"\"; DELETE FROM usage_logs; --","r":"Robert'); DROP TABLE subscription_tiers;--"})",
      R"({"backslash":"\\x00 \\ $1 %s %n {} {0}"})",
      R"({"escaped_nul":"a\u0000b","escaped_ctl":"\u001b[31m"})",
      "{\"unicode\":\"\xF0\x9F\x98\x80 \xD9\x85\xD8\xB3 \xE7\x94\xA8 e\xCC\x81\"}",
      "{ \"spacing\" :  [ 1 , 2 ]\n}",
      R"({"nested":{"a":[null,true,false,-1.5e3]}})",
      "{}",
  };
  for (const auto& m : valid) {
    INFO("metadata: " << printable(m));
    const auto logged = f.svc.log_usage_event(u, "note", 0, 0, {}, m);
    REQUIRE_MESSAGE(logged.has_value(), "a valid JSON object was refused: " << describe(logged.error()));
    CHECK(newest_event(f, u, "note").event_metadata == m);
  }

  // Not JSON objects: each must be invalid_argument, and change nothing.
  std::vector<sample> invalid{
      {"injection in braces", "{'; DROP TABLE users; --}"},
      {"single-quoted JSON", "{'a':'b'}"},
      {"unquoted key", "{a:1}"},
      {"trailing garbage", "{\"a\":1}; DROP TABLE users; --}"},
      {"two objects", "{\"a\":1}{\"b\":2}"},
      {"extra brace", "{}}"},
      {"missing value", "{\"a\":}"},
      {"trailing comma", "{\"a\":1,}"},
      {"raw control character in a string", "{\"a\":\"\x01\"}"},
      {"raw newline in a string", "{\"a\":\"line\nbreak\"}"},
      {"bad escape", "{\"a\":\"\\q\"}"},
      {"NUL inside", std::string("{\"a\":\"\0\"}", 9), kind::nul},
      {"invalid UTF-8", "{\"a\":\"\xFF\"}", kind::bad_utf8},
      {"array", "[1,2]"},
      {"string", "\"{}\""},
      {"1 MB object", "{\"a\":\"" + std::string(one_mb, 'a') + "\"}", kind::huge},
  };
  for (const auto& s : invalid) {
    INFO("metadata: " << s.label << " = " << printable(s.value));
    const auto before = capture(f, {u});
    const auto logged = f.svc.log_usage_event(u, "note", 0, 0, {}, s.value);
    refused(logged, errc::invalid_argument, s.value);
    // (When it was accepted, the row it added is the whole difference.)
    if (!logged.has_value()) check_unchanged(before, capture(f, {u}));
  }
  f.check_audit(u);
}

TEST_CASE("hostile: the JSON views of stored hostile values are valid JSON that gives the values back") {
  service_fixture f;
  const std::string id = "'; DROP TABLE users; --\"},{\"user_id\":\"forged";
  REQUIRE(valid_id(id));
  const user_id u{id};
  // Display text with control characters (terminal escapes) is refused;
  // quotes, brackets and backslashes are stored as they are.
  refused(f.svc.create_user(u, std::string("\"}]} \x1B[2J"), tier_id{"pro"}), errc::invalid_argument, "\x1B[2J");
  must(f.svc.create_user(u, std::string("\"}]} [2J \\"), tier_id{"pro"}));
  request_context ctx;
  ctx.ip = "'\"\\$1%s";
  ctx.user_agent = "UA \"quoted\" \x1B]0;title\x07";
  refused(f.svc.try_consume(u, 1, ctx), errc::invalid_argument, *ctx.user_agent);
  ctx.user_agent = "UA \"quoted\" \\ ]0;title \xF0\x9F\x98\x80";
  REQUIRE(must(f.svc.try_consume(u, 1, ctx)).allowed);
  // Metadata that opens with '{' and ends with '}' but would close the
  // surrounding object and forge another event if embedded as it is.
  const std::string forged = R"({"x":1},{"id":999,"user_id":"victim","event_type":"message_sent"})";
  const auto logged = f.svc.log_usage_event(u, "note", 0, 0, {}, forged);
  refused(logged, errc::invalid_argument, forged);

  const auto events = events_of(f, u);
  const auto parsed = parse_json(to_json(events));
  REQUIRE(parsed.type == json_value::kind::array);
  CHECK(parsed.items.size() == events.size());
  for (const auto& item : parsed.items) {
    CHECK(item["user_id"].as_string() == id);
    CHECK_FALSE(contains_string(item, "victim"));
  }
  const auto sent = newest_event(f, u, "message_sent");
  const auto sent_json = parse_json(to_json(sent));
  CHECK(sent_json["request_ip"].as_string() == *ctx.ip);
  CHECK(sent_json["user_agent"].as_string() == *ctx.user_agent);

  const auto quota = parse_json(to_json(f.quota(u)));
  CHECK(quota["user_id"].as_string() == id);
  const auto sub = parse_json(to_json(must(f.svc.get_subscription(u))));
  CHECK(sub["user_id"].as_string() == id);
  CHECK(sub["email"].as_string() == "\"}]} [2J \\");
}

TEST_CASE(
    "hostile: tier ids: malformed ones are invalid_argument, unknown ones unknown_tier, in every tier-taking call") {
  service_fixture f;
  const auto alice = f.add_user("alice");
  REQUIRE(f.consume(alice).allowed);
  const auto before = capture(f, {alice});

  struct case_ {
    std::string label;
    std::string value;
    std::vector<errc> codes;
  };
  std::vector<case_> cases;
  for (const auto& s : all_hostile()) cases.push_back({s.label, s.value, expected_for_tier_id(s.value)});
  // Traps for code that stops at the first NUL: each would name a real tier.
  cases.push_back({"pro then NUL", std::string("pro\0", 4), {errc::invalid_argument}});
  cases.push_back({"max NUL injection", std::string("max\0'; DROP TABLE users; --", 27), {errc::invalid_argument}});
  cases.push_back({"free with a space", "free ", {errc::invalid_argument}});
  cases.push_back({"21 characters", std::string(21, 'p'), {errc::invalid_argument}});
  // Well-formed names of tiers that do not exist.
  for (const char* unknown : {"gold", "platinum", "free2", "pro-", "enterprise_", "x", "0", "drop_table_users--"})
    cases.push_back({unknown, unknown, {errc::unknown_tier}});
  // Case variants of real tiers: refused either way.
  cases.push_back({"upper-case PRO", "PRO", expected_for_tier_id("PRO")});

  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    INFO("tier id: " << c.label << " = " << printable(c.value));
    const tier_id t{c.value};
    refused(f.svc.upgrade_subscription(alice, t), c.codes, c.value);
    const user_id newcomer{"newcomer-" + std::to_string(i)};
    refused(f.svc.create_user(newcomer, std::nullopt, t), c.codes, c.value);
    check_error(f.svc.get_subscription(newcomer), errc::unknown_user);
    refused(f.svc.get_tier_config(t), c.codes, c.value);
    tier_update up;
    up.id = t;
    up.messages_per_day = limit{1};
    up.name = "Hijacked";
    refused(f.svc.update_tier(up), c.codes, c.value);
    service_options o;
    o.default_tier = t;
    auto svc = quota_service::create(f.db.store, o);
    if (svc) {
      // Accepted lazily: the first use must then say unknown_tier.
      auto s = std::move(svc).value();
      refused(s.create_user(newcomer), {errc::unknown_tier, errc::invalid_argument}, c.value);
      check_error(f.svc.get_subscription(newcomer), errc::unknown_user);
    } else {
      refused(svc, c.codes, c.value);
    }
  }
  check_unchanged(before, capture(f, {alice}));
  check_four_tiers(f);
}

TEST_CASE("hostile: tier names set through update_tier are stored verbatim or refused, and other tiers are untouched") {
  service_fixture f;
  const auto user = f.add_user("pro-user", "pro");
  REQUIRE(f.consume(user).allowed);
  for (const bool french : {false, true}) {
    for (const auto& s : all_hostile()) {
      INFO((french ? "name_fr: " : "name: ") << s.label << " = " << printable(s.value));
      const auto before = capture(f, {user});
      const auto others_before = [&] {
        std::string out;
        for (const auto& t : must(f.svc.get_all_tiers(false)))
          if (t.id.str() != "pro") out += dump(t);
        return out;
      }();
      tier_update up;
      up.id = tier_id{"pro"};
      (french ? up.name_fr : up.name) = s.value;
      const auto updated = f.svc.update_tier(up);
      if (must_refuse_text(s.value)) CHECK_FALSE(updated.has_value());
      if (updated) {
        const auto pro = must(f.svc.get_tier_config(tier_id{"pro"}));
        CHECK((french ? pro.name_fr : pro.name) == s.value);
        const auto info = f.quota(user);
        CHECK((french ? info.tier_name_fr : info.tier_name) == s.value);
        CHECK(info.messages_per_day_limit == limit{100});  // only the name changed
        std::string others_after;
        for (const auto& t : must(f.svc.get_all_tiers(false)))
          if (t.id.str() != "pro") others_after += dump(t);
        CHECK(others_after == others_before);
      } else {
        refused(updated, errc::invalid_argument, s.value);
        check_unchanged(before, capture(f, {user}));
      }
    }
  }
  check_four_tiers(f);
}

TEST_CASE(
    "hostile: unknown and malformed reservation ids: reservation_not_found or invalid_argument, the open reservation "
    "untouched") {
  service_fixture f;
  const auto u = f.add_user("reserver", "enterprise");
  const auto reserved = must(f.svc.reserve(u, 100));
  REQUIRE(reserved.reservation.has_value());
  const reservation_id rid = *reserved.reservation;
  const std::string id = rid.str();
  REQUIRE(valid_id(id));
  const auto before = capture(f, {u});

  // Well-formed ids that no reservation has: near-misses of the real one,
  // wildcards, injection payloads, Unicode.
  std::vector<sample> unknown{
      {"zeros", "r_00000000000000000000000000000000"},
      {"real id + quote", id + "'"},
      {"real id + space", id + " "},
      {"space + real id", " " + id},
      {"real id minus its last character", id.substr(0, id.size() - 1)},
      {"real id + %", id + "%"},
      {"prefix + %", id.substr(0, 3) + "%"},
      {"prefix + _", id.substr(0, id.size() - 1) + "_"},
      {"real id + OR", id + "' OR '1'='1"},
  };
  std::string upper = id;
  for (char& c : upper) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  if (upper != id) unknown.push_back({"upper-case real id", upper});
  for (const auto& s : concat({injection_payloads(), quote_payloads(), valid_unicode()})) unknown.push_back(s);
  for (const auto& s : unknown) {
    INFO("reservation id: " << s.label << " = " << printable(s.value));
    REQUIRE(valid_id(s.value));
    const reservation_id r{s.value};
    refused(f.svc.commit(r, 5), errc::reservation_not_found, s.value);
    refused(f.svc.release(r), errc::reservation_not_found, s.value);
    refused(f.svc.get_reservation(r), errc::reservation_not_found, s.value);
  }

  // Malformed ids, including "real id + NUL": a backend that stopped at the
  // NUL would settle the real reservation.
  auto malformed = malformed_ids();
  malformed.push_back({"empty", "", kind::control});
  malformed.push_back({"real id then NUL", id + std::string(1, '\0'), kind::nul});
  malformed.push_back({"real id NUL junk", id + std::string("\0junk", 5), kind::nul});
  malformed.push_back({"real id + 0xFF", id + "\xFF", kind::bad_utf8});
  malformed.push_back({"real id + newline", id + "\n", kind::control});
  malformed.push_back({"129 bytes", id + std::string(129 - id.size(), 'x'), kind::huge});
  for (const auto& s : malformed) {
    INFO("reservation id: " << s.label << " = " << printable(s.value));
    const reservation_id r{s.value};
    refused(f.svc.commit(r, 5), errc::invalid_argument, s.value);
    refused(f.svc.release(r), errc::invalid_argument, s.value);
    refused(f.svc.get_reservation(r), errc::invalid_argument, s.value);
  }

  // Hostile token counts on the real reservation.
  for (const std::int64_t n : {std::int64_t{-1}, std::numeric_limits<std::int64_t>::min(),
                               std::numeric_limits<std::int64_t>::max(), bound + 1}) {
    INFO("actual tokens " << n);
    refused(f.svc.commit(rid, n), errc::invalid_argument, "");
  }

  check_unchanged(before, capture(f, {u}));
  const auto still = must(f.svc.get_reservation(rid));
  CHECK(still.state == reservation_state::open);
  CHECK(still.estimated_tokens == 100);
  CHECK_FALSE(still.actual_tokens.has_value());
  // And it can still be settled normally.
  CHECK(must(f.svc.commit(rid, 42)).actual_tokens == 42);
  CHECK(f.quota(u).tokens_today == 42);
  f.check_audit(u);
}

TEST_CASE("hostile: -1, INT64_MIN, INT64_MAX and 10^12+1 are invalid_argument in every count-taking call") {
  service_fixture f;
  const auto u = f.add_user("counter", "enterprise");
  const auto reserved = must(f.svc.reserve(u, 10));
  REQUIRE(reserved.reservation.has_value());
  const auto before = capture(f, {u});
  constexpr auto min64 = std::numeric_limits<std::int64_t>::min();
  constexpr auto max64 = std::numeric_limits<std::int64_t>::max();
  for (const std::int64_t n : {std::int64_t{-1}, min64, min64 + 1, max64, max64 - 1, bound + 1}) {
    INFO("count " << n);
    refused(f.svc.try_consume(u, n), errc::invalid_argument, "");
    refused(f.svc.reserve(u, n), errc::invalid_argument, "");
    refused(f.svc.increment_usage(u, n, 0), errc::invalid_argument, "");
    refused(f.svc.increment_usage(u, 0, n), errc::invalid_argument, "");
    refused(f.svc.increment_usage(u, n, n), errc::invalid_argument, "");
    refused(f.svc.commit(*reserved.reservation, n), errc::invalid_argument, "");
    refused(f.svc.log_usage_event(u, "note", n, 0), errc::invalid_argument, "");
    refused(f.svc.log_usage_event(u, "note", 0, n), errc::invalid_argument, "");
    for (int field = 0; field < 4; ++field) {
      tier_update up;
      up.id = tier_id{"pro"};
      if (field == 0) up.messages_per_day = limit{n};
      if (field == 1) up.messages_per_month = limit{n};
      if (field == 2) up.tokens_per_month = limit{n};
      if (field == 3) up.price_fcfa = n;
      INFO("tier field " << field);
      refused(f.svc.update_tier(up), errc::invalid_argument, "");
    }
    event_query q;
    q.user = u;
    q.limit = n;
    refused(f.svc.get_events(q), errc::invalid_argument, "");
  }
  check_unchanged(before, capture(f, {u}));
  CHECK(must(f.svc.get_reservation(*reserved.reservation)).state == reservation_state::open);
}

TEST_CASE(
    "hostile: counters near the 10^12 bound: the bound itself is reached, one past it is refused, nothing wraps") {
  service_fixture f;
  const auto tokens_user = f.add_user("tokens", "enterprise");
  const auto messages_user = f.add_user("messages", "enterprise");

  SUBCASE("tokens") {
    const auto& u = tokens_user;
    must(f.svc.increment_usage(u, 0, bound - 1));
    const auto res = must(f.svc.reserve(u, 0));  // counts a message, no tokens yet
    REQUIRE(res.reservation.has_value());
    must(f.svc.increment_usage(u, 0, 1));
    CHECK(f.quota(u).tokens_this_month == bound);
    const auto before = capture(f, {u});
    refused(f.svc.increment_usage(u, 0, 1), errc::invalid_argument, "");
    refused(f.svc.increment_usage(u, 0, bound), errc::invalid_argument, "");
    refused(f.svc.try_consume(u, 1), errc::invalid_argument, "");
    refused(f.svc.try_consume(u, bound), errc::invalid_argument, "");
    refused(f.svc.reserve(u, 1), errc::invalid_argument, "");
    refused(f.svc.commit(*res.reservation, 1), errc::invalid_argument, "");
    refused(f.svc.commit(*res.reservation, bound), errc::invalid_argument, "");
    check_unchanged(before, capture(f, {u}));
    CHECK(must(f.svc.get_reservation(*res.reservation)).state == reservation_state::open);
    // A zero-token message still fits, and release still refunds.
    CHECK(must(f.svc.try_consume(u, 0)).allowed);
    must(f.svc.release(*res.reservation));
    const auto q = f.quota(u);
    CHECK(q.tokens_this_month == bound);
    CHECK(q.tokens_today == bound);
    CHECK(q.messages_today == 1);
    f.check_audit(u);
  }

  SUBCASE("messages") {
    const auto& u = messages_user;
    must(f.svc.increment_usage(u, bound - 1, 0));
    CHECK(must(f.svc.try_consume(u)).allowed);
    CHECK(f.quota(u).messages_today == bound);
    const auto before = capture(f, {u});
    refused(f.svc.try_consume(u), errc::invalid_argument, "");
    refused(f.svc.reserve(u, 0), errc::invalid_argument, "");
    refused(f.svc.increment_usage(u, 1, 0), errc::invalid_argument, "");
    refused(f.svc.increment_usage(u, bound, bound), errc::invalid_argument, "");
    check_unchanged(before, capture(f, {u}));
    const auto q = f.quota(u);
    CHECK(q.messages_today == bound);
    CHECK(q.messages_this_month == bound);
    f.check_audit(u);
  }

  SUBCASE("a bounded tier at the bound reports zero remaining, never a negative count") {
    f.set_limits("max", bound, bound, bound);
    const auto u = f.add_user("maxed", "max");
    must(f.svc.increment_usage(u, bound, bound));
    const auto q = f.quota(u);
    CHECK(q.messages_remaining_today == limit{0});
    CHECK(q.messages_remaining_month == limit{0});
    CHECK(q.tokens_remaining_month == limit{0});
    CHECK_FALSE(q.can_send_message);
    const auto d = must(f.svc.try_consume(u));
    CHECK_FALSE(d.allowed);
    CHECK(f.quota(u).messages_today == bound);
  }
}

TEST_CASE("hostile: time zones: injection, NUL, invalid UTF-8, paths and 1 MB names are invalid_argument") {
  service_fixture f;
  const auto u = f.add_user("zoned");
  REQUIRE(f.consume(u).allowed);
  const auto before = capture(f, {u});

  std::vector<sample> zones = all_hostile();
  const std::vector<sample> more{
      {"UTC then NUL", std::string("UTC\0", 4)},
      {"UTC NUL Paris", std::string("UTC\0Europe/Paris", 16)},
      {"Paris NUL traversal", std::string("Europe/Paris\0../../etc/passwd", 29)},
      {"absolute path", "/etc/passwd"},
      {"zoneinfo path", "/usr/share/zoneinfo/UTC"},
      {"traversal", "../../../../etc/passwd"},
      {"traversal inside", "Europe/../UTC"},
      {"trailing newline", "Etc/UTC\n"},
      {"leading space", " UTC"},
      {"trailing space", "UTC "},
      {"OSC title escape", "\x1B]0;pwned\x07"},
      {"format string", "%s%n"},
      {"shell variable", "$TZ"},
      {"POSIX TZ rule", "EST5EDT,M3.2.0,M11.1.0"},
      {"offset", "UTC+25"},
      {"Unicode lookalike", "Europe/P\xC3\xA4ris"},
      {"1 MB zone", "Europe/" + std::string(one_mb, 'P')},
      {"injection", "UTC'; DROP TABLE users; --"},
  };
  zones.insert(zones.end(), more.begin(), more.end());
  for (const auto& z : zones) {
    INFO("time zone: " << z.label << " = " << printable(z.value));
    service_options o;
    o.time_zone = z.value;
    o.time_source = f.clock;
    refused(quota_service::create(f.db.store, o), errc::invalid_argument, z.value);
  }
  check_unchanged(before, capture(f, {u}));

  // Real zones, including unusual but valid names, work.
  for (const char* zone : {"UTC", "Africa/Douala", "America/Argentina/Buenos_Aires", "Etc/GMT+12", "Asia/Kathmandu"}) {
    INFO("time zone " << zone);
    service_options o;
    o.time_zone = zone;
    o.time_source = f.clock;
    auto svc = quota_service::create(f.db.store, o);
    REQUIRE_MESSAGE(svc.has_value(), describe(svc.error()));
    CHECK(must(svc.value().get_user_quota_info(u)).user == u);
  }
}
