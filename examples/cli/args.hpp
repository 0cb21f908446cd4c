// Command-line parsing for kauri-quota.
//
// parse_args is a pure function: it reads nothing but its argument (no
// environment, no files) and either returns the parsed command or a usage
// error. It checks the shape of the command line — which command, how many
// arguments, which options, well-formed numbers — but not the values the
// library validates itself (user ids, tier ids, time zones, URLs), so that
// those errors are reported in one place with the library's own messages.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace kauri_quota_cli {

enum class command_kind {
  help,
  version,
  migrate,
  schema,
  tiers,
  tier_show,
  tier_set,
  user_add,
  user_show,
  check,
  consume,
  record,
  reserve,
  commit,
  release,
  quota,
  stats,
  events,
  reset,
  upgrade,
  expire,
  prune,
  demo,
  trial,
  pay,
  cancel,
  schedule,
  history,
  payments,
  user_zone,
};

/// A limit given on the command line: a count, or `null` for unlimited.
using nullable_count = std::optional<std::int64_t>;

/// Options that may appear anywhere on the command line.
struct global_options {
  std::optional<std::string> db;  ///< --db URL; empty: $KAURI_QUOTA_DB, then the default
  std::optional<std::string> tz;  ///< --tz ZONE; empty: UTC
  bool json = false;              ///< --json
  /// --grace D: how long a subscription past its end stays past_due;
  /// empty: the library's default (3 days).
  std::optional<std::chrono::seconds> grace;
  std::optional<std::string> currency;  ///< --currency XOF|XAF; empty: XOF
};

/// One parsed command line. Only the fields its command uses are set.
struct command {
  command_kind kind = command_kind::help;
  global_options global;

  std::string user;         ///< USER of user/check/consume/record/reserve/quota/stats/events/upgrade
  std::string tier;         ///< tier ID of `tier`, `tier set`, TIER of `upgrade`
  std::string reservation;  ///< RES of commit/release

  // migrate
  std::optional<int> migrate_to;
  std::optional<int> migrate_down;

  // tiers / tier set
  bool all = false;
  std::optional<nullable_count> daily;
  std::optional<nullable_count> monthly;
  std::optional<nullable_count> tokens_limit;
  std::optional<std::int64_t> price;
  std::optional<std::string> name;
  std::optional<std::string> name_fr;
  std::optional<bool> visible;
  std::optional<std::int32_t> order;

  // user add
  std::optional<std::string> email;
  std::optional<std::string> new_user_tier;

  // consume / record / reserve / commit
  std::optional<std::int64_t> tokens;
  std::optional<std::int64_t> messages;
  std::optional<std::string> request_id;
  std::optional<std::string> ip;
  std::optional<std::string> user_agent;

  // events
  std::optional<std::int64_t> limit;
  std::optional<std::string> event_type;

  // reset
  bool reset_monthly = false;  ///< false: daily
  std::optional<std::string> reset_user;

  // expire: --request-id-ttl, when given; its value is the TTL, or
  // nullopt for `forever`.
  std::optional<std::optional<std::chrono::seconds>> request_id_ttl;

  // prune: --before YYYY-MM-DD (required; a real calendar day, whose
  // month rule the library checks) and --batch N (rows per transaction;
  // empty: the library's default).
  std::optional<std::chrono::year_month_day> before;
  std::optional<std::int64_t> batch;

  // demo
  bool keep = false;

  // trial: --length (default 14 days)
  std::chrono::seconds trial_length{std::chrono::hours{24 * 14}};
  // pay
  std::optional<std::int64_t> months;  ///< default 1
  std::optional<std::int64_t> amount;
  std::optional<std::string> provider;  ///< default "manual"
  std::optional<std::string> transaction_id;
  bool reset_usage = false;  ///< pay / upgrade --reset-usage
  // cancel --undo
  bool undo = false;
  // history: --from / --to (YYYY-MM-DD; default the last 30 days), --months
  std::optional<std::string> from;
  std::optional<std::string> to;
  bool by_month = false;
  // user zone USER ZONE|none
  std::string zone;
};

/// A malformed command line; `message` is one line, safe to print (long or
/// unprintable arguments are shortened and escaped).
struct usage_error {
  std::string message;
};

using parse_result = std::variant<command, usage_error>;

/// Parses the arguments after the program name.
parse_result parse_args(const std::vector<std::string>& args);

/// A duration such as 90m, 36h or 7d (s, m, h or d); on failure a message
/// naming `what`.
std::variant<std::chrono::seconds, std::string> parse_duration(std::string_view text, std::string_view what);
/// Parses a strict "YYYY-MM-DD" that names a real calendar day; on error
/// returns a one-line message that starts with `what`.
std::variant<std::chrono::year_month_day, std::string> parse_date(std::string_view text, std::string_view what);

/// Strict parse of a non-negative decimal count: digits only, no sign, no
/// spaces, no overflow. On failure returns a message naming `what`.
std::variant<std::int64_t, std::string> parse_count(std::string_view text, std::string_view what);

/// `s` made safe to show in a one-line message: control characters and
/// invalid UTF-8 are escaped (\n, \x01...), and anything beyond about
/// `max_bytes` bytes is cut at a character boundary and marked with "…".
std::string printable(std::string_view s, std::size_t max_bytes = 40);

/// The full --help text.
std::string_view usage_text();

}  // namespace kauri_quota_cli
