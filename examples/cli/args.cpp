#include "args.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <climits>
#include <limits>
#include <set>
#include <system_error>
#include <type_traits>
#include <utility>

namespace kauri_quota_cli {

namespace {

constexpr std::string_view usage = R"(kauri-quota - subscription quota enforcement (kauri_quota)

Usage: kauri-quota [--db URL] [--tz ZONE] [--json] COMMAND [ARGS...]

Global options (before or after the command):
  --db URL      storage URL: sqlite:PATH, sqlite::memory:, postgresql://...
                or a libpq keyword string (default: $KAURI_QUOTA_DB, else
                sqlite:kauri_quota.db)
  --tz ZONE     IANA time zone in which days and months start (default UTC)
  --json        machine-readable JSON on standard output
  --help        show this help
  --version     show the version

Schema:
  migrate [--to N | --down N]   apply pending migrations (or go to version N,
                                or roll back the N most recent ones)
  schema                        show the schema version and the migrations

Tiers:
  tiers [--all]                 list the visible tiers (--all: hidden ones too)
  tier ID                       show one tier
  tier set ID [--daily N|null] [--monthly N|null] [--tokens N|null]
              [--price N] [--name S] [--name-fr S] [--visible true|false]
              [--order N]       change a tier (null = unlimited)

  --grace D     how long a subscription past its end date stays past_due
                with its tier's limits before it expires (default 3d)
  --currency C  the currency payments are in: XOF or XAF (default XOF)

Users:
  user add USER [--email E] [--tier T]
  user show USER                the subscription with its lifecycle fields
  user zone USER ZONE|none      USER's own time zone for days and months
                                (none: the --tz zone)
  upgrade USER TIER [--reset-usage]
                                move USER to TIER at once (--reset-usage:
                                zero the current day's and month's usage)

Subscriptions:
  trial USER TIER [--length D]  start USER's one trial of TIER (default 14d)
  pay USER TIER --amount N --transaction-id ID [--months N]
      [--provider P] [--reset-usage]
                                apply a payment received by hand (provider
                                "manual" by default); a repeat of the same
                                transaction changes nothing
  payments USER                 USER's payments, newest first
  cancel USER [--undo]          cancel at the end of the paid period
                                (--undo: drop a scheduled cancellation or change)
  schedule USER TIER            move USER to TIER at the end of the paid period
  history USER [--from DATE] [--to DATE] [--by-month]
                                usage per day (default the last 30 days), or
                                per month with --by-month

Usage:
  check USER                    may USER send a message? (read-only)
  consume USER [--tokens N] [--request-id ID] [--ip IP] [--user-agent UA]
                                count one message if the quota allows it
  record USER [--messages N] [--tokens N] [--request-id ID]
                                record usage after the fact, unconditionally
                                (default: 1 message, 0 tokens)
  reserve USER [--tokens N] [--request-id ID]
                                count one message and a token estimate
  commit RES --tokens N         settle a reservation at the actual tokens
  release RES                   refund a reservation
  expire [--request-id-ttl D]   settle expired reservations at their estimate,
                                write the subscription transitions that fell
                                due (trial ends, past_due, expiry, scheduled
                                changes), and forget request ids older than D
                                (90m, 36h, 7d: s, m, h or d; default 7d; or
                                forever)
  prune --before DATE [--batch N]
                                delete the day rows, audit rows and settled
                                reservations of the days before DATE
                                (YYYY-MM-DD: the first day of a month, at most
                                the current month's), N rows per transaction
                                (default 5000)
  quota USER                    quota status with usage bars
  stats USER                    usage percentages and warnings
  events USER [--limit N] [--type T]
                                audit log, newest first
  reset daily|monthly [--user USER]
                                administrative reset of the counters

Other:
  demo [--keep]                 a guided run on a fresh temporary database

Exit status: 0 ok or allowed, 1 error, 2 usage error, 3 denied by quota.
)";

struct option_spec {
  std::string_view name;
  bool takes_value;
  bool global;
};

constexpr std::array<option_spec, 40> known_options{{
    {"--db", true, true},
    {"--tz", true, true},
    {"--json", false, true},
    {"--help", false, true},
    {"--version", false, true},
    {"--to", true, false},
    {"--down", true, false},
    {"--all", false, false},
    {"--daily", true, false},
    {"--monthly", true, false},
    {"--tokens", true, false},
    {"--price", true, false},
    {"--name", true, false},
    {"--name-fr", true, false},
    {"--visible", true, false},
    {"--order", true, false},
    {"--email", true, false},
    {"--tier", true, false},
    {"--messages", true, false},
    {"--request-id", true, false},
    {"--ip", true, false},
    {"--user-agent", true, false},
    {"--limit", true, false},
    {"--type", true, false},
    {"--user", true, false},
    {"--keep", false, false},
    {"--request-id-ttl", true, false},
    {"--grace", true, true},
    {"--currency", true, true},
    {"--length", true, false},
    {"--months", true, false},
    {"--amount", true, false},
    {"--provider", true, false},
    {"--transaction-id", true, false},
    {"--reset-usage", false, false},
    {"--undo", false, false},
    {"--from", true, false},
    {"--by-month", false, false},
    {"--before", true, false},
    {"--batch", true, false},
}};

const option_spec* find_option(std::string_view name) {
  const auto* it =
      std::find_if(known_options.begin(), known_options.end(), [&](const option_spec& o) { return o.name == name; });
  return it == known_options.end() ? nullptr : it;
}

/// A command option as written, before its value is interpreted.
struct raw_option {
  std::string_view name;
  std::string value;
};

std::string quoted(std::string_view s) { return "'" + printable(s) + "'"; }

usage_error fail(std::string message) { return usage_error{std::move(message)}; }

/// Parses a count that must fit in `max`.
std::variant<std::int64_t, std::string> parse_bounded(std::string_view text, std::string_view what, std::int64_t max) {
  auto parsed = parse_count(text, what);
  if (const auto* v = std::get_if<std::int64_t>(&parsed); v != nullptr && *v > max) {
    return std::string(what) + ": " + quoted(text) + " is too large (at most " + std::to_string(max) + ")";
  }
  return parsed;
}

/// Applies the value of one command option to `cmd`; returns an error
/// message when the value is malformed.
std::optional<std::string> apply_option(command& cmd, const raw_option& opt) {
  const std::string_view name = opt.name;
  const std::string& value = opt.value;

  auto count_into = [&](auto& field, std::int64_t max) -> std::optional<std::string> {
    auto parsed = parse_bounded(value, name, max);
    if (auto* message = std::get_if<std::string>(&parsed)) return std::move(*message);
    field = static_cast<std::remove_reference_t<decltype(*field)>>(std::get<std::int64_t>(parsed));
    return std::nullopt;
  };
  auto nullable_into = [&](std::optional<nullable_count>& field) -> std::optional<std::string> {
    if (value == "null") {
      field = nullable_count{};
      return std::nullopt;
    }
    auto parsed = parse_count(value, name);
    if (auto* message = std::get_if<std::string>(&parsed)) return std::move(*message) + " (or null for unlimited)";
    field = nullable_count{std::get<std::int64_t>(parsed)};
    return std::nullopt;
  };
  constexpr std::int64_t max64 = std::numeric_limits<std::int64_t>::max();

  if (name == "--to") {
    if (cmd.kind == command_kind::history) {
      cmd.to = value;
      return std::nullopt;
    }
    return count_into(cmd.migrate_to, INT_MAX);
  }
  if (name == "--from") {
    cmd.from = value;
    return std::nullopt;
  }
  if (name == "--by-month" || name == "--reset-usage" || name == "--undo") {
    (name == "--by-month" ? cmd.by_month : name == "--undo" ? cmd.undo : cmd.reset_usage) = true;
    return std::nullopt;
  }
  if (name == "--months") return count_into(cmd.months, 1000);
  if (name == "--amount") return count_into(cmd.amount, std::numeric_limits<std::int64_t>::max());
  if (name == "--provider") {
    cmd.provider = value;
    return std::nullopt;
  }
  if (name == "--transaction-id") {
    cmd.transaction_id = value;
    return std::nullopt;
  }
  if (name == "--length") {
    auto parsed = parse_duration(value, name);
    if (auto* message = std::get_if<std::string>(&parsed)) return std::move(*message);
    cmd.trial_length = std::get<std::chrono::seconds>(parsed);
    return std::nullopt;
  }
  if (name == "--down") return count_into(cmd.migrate_down, INT_MAX);
  if (name == "--all") {
    cmd.all = true;
    return std::nullopt;
  }
  if (name == "--keep") {
    cmd.keep = true;
    return std::nullopt;
  }
  if (name == "--daily") return nullable_into(cmd.daily);
  if (name == "--monthly") return nullable_into(cmd.monthly);
  if (name == "--tokens") {
    if (cmd.kind == command_kind::tier_set) return nullable_into(cmd.tokens_limit);
    return count_into(cmd.tokens, max64);
  }
  if (name == "--price") return count_into(cmd.price, max64);
  if (name == "--order") return count_into(cmd.order, std::numeric_limits<std::int32_t>::max());
  if (name == "--messages") return count_into(cmd.messages, max64);
  if (name == "--limit") return count_into(cmd.limit, max64);
  if (name == "--before") {
    auto parsed = parse_date(value, name);
    if (auto* message = std::get_if<std::string>(&parsed)) return std::move(*message);
    cmd.before = std::get<std::chrono::year_month_day>(parsed);
    return std::nullopt;
  }
  if (name == "--batch") return count_into(cmd.batch, max64);
  if (name == "--request-id-ttl") {
    if (value == "forever") {
      cmd.request_id_ttl.emplace(std::nullopt);
      return std::nullopt;
    }
    auto parsed = parse_duration(value, name);
    if (std::holds_alternative<std::string>(parsed))
      return "--request-id-ttl: expected a duration such as 90m, 36h or 7d (s, m, h or d) or forever, got " +
             quoted(value);
    cmd.request_id_ttl.emplace(std::get<std::chrono::seconds>(parsed));
    return std::nullopt;
  }
  if (name == "--visible") {
    if (value == "true") {
      cmd.visible = true;
    } else if (value == "false") {
      cmd.visible = false;
    } else {
      return "--visible: expected true or false, got " + quoted(value);
    }
    return std::nullopt;
  }
  if (name == "--name")
    cmd.name = value;
  else if (name == "--name-fr")
    cmd.name_fr = value;
  else if (name == "--email")
    cmd.email = value;
  else if (name == "--tier")
    cmd.new_user_tier = value;
  else if (name == "--request-id")
    cmd.request_id = value;
  else if (name == "--ip")
    cmd.ip = value;
  else if (name == "--user-agent")
    cmd.user_agent = value;
  else if (name == "--type")
    cmd.event_type = value;
  else if (name == "--user")
    cmd.reset_user = value;
  return std::nullopt;
}

/// The shape of one command: its name as typed, how many positional
/// arguments follow the command words, what they are called, and which
/// options it accepts.
struct command_shape {
  std::string_view display;
  std::vector<std::string_view> arguments;
  std::vector<std::string_view> options;
};

command_shape shape_of(command_kind kind) {
  switch (kind) {
    case command_kind::migrate:
      return {"migrate", {}, {"--to", "--down"}};
    case command_kind::schema:
      return {"schema", {}, {}};
    case command_kind::tiers:
      return {"tiers", {}, {"--all"}};
    case command_kind::tier_show:
      return {"tier", {"ID"}, {}};
    case command_kind::tier_set:
      return {"tier set",
              {"ID"},
              {"--daily", "--monthly", "--tokens", "--price", "--name", "--name-fr", "--visible", "--order"}};
    case command_kind::user_add:
      return {"user add", {"USER"}, {"--email", "--tier"}};
    case command_kind::user_show:
      return {"user show", {"USER"}, {}};
    case command_kind::check:
      return {"check", {"USER"}, {}};
    case command_kind::consume:
      return {"consume", {"USER"}, {"--tokens", "--request-id", "--ip", "--user-agent"}};
    case command_kind::record:
      return {"record", {"USER"}, {"--messages", "--tokens", "--request-id", "--ip", "--user-agent"}};
    case command_kind::reserve:
      return {"reserve", {"USER"}, {"--tokens", "--request-id", "--ip", "--user-agent"}};
    case command_kind::commit:
      return {"commit", {"RES"}, {"--tokens"}};
    case command_kind::release:
      return {"release", {"RES"}, {}};
    case command_kind::quota:
      return {"quota", {"USER"}, {}};
    case command_kind::stats:
      return {"stats", {"USER"}, {}};
    case command_kind::events:
      return {"events", {"USER"}, {"--limit", "--type"}};
    case command_kind::reset:
      return {"reset", {}, {"--user"}};
    case command_kind::upgrade:
      return {"upgrade", {"USER", "TIER"}, {"--reset-usage"}};
    case command_kind::trial:
      return {"trial", {"USER", "TIER"}, {"--length"}};
    case command_kind::pay:
      return {"pay", {"USER", "TIER"}, {"--amount", "--transaction-id", "--months", "--provider", "--reset-usage"}};
    case command_kind::payments:
      return {"payments", {"USER"}, {}};
    case command_kind::cancel:
      return {"cancel", {"USER"}, {"--undo"}};
    case command_kind::schedule:
      return {"schedule", {"USER", "TIER"}, {}};
    case command_kind::history:
      return {"history", {"USER"}, {"--from", "--to", "--by-month"}};
    case command_kind::user_zone:
      return {"user zone", {"USER", "ZONE"}, {}};
    case command_kind::expire:
      return {"expire", {}, {"--request-id-ttl"}};
    case command_kind::prune:
      return {"prune", {}, {"--before", "--batch"}};
    case command_kind::demo:
      return {"demo", {}, {"--keep"}};
    case command_kind::help:
    case command_kind::version:
      break;
  }
  return {"", {}, {}};
}

/// Maps the command words at the start of `words` to a command kind;
/// returns how many words it used, or an error.
std::variant<std::pair<command_kind, std::size_t>, usage_error> identify(const std::vector<std::string>& words) {
  const std::string& w = words.front();
  auto second = [&]() -> std::optional<std::string_view> {
    if (words.size() < 2) return std::nullopt;
    return std::string_view{words[1]};
  };
  using entry = std::pair<std::string_view, command_kind>;
  static constexpr std::array<entry, 23> simple{{
      {"migrate", command_kind::migrate},   {"schema", command_kind::schema},   {"tiers", command_kind::tiers},
      {"check", command_kind::check},       {"consume", command_kind::consume}, {"record", command_kind::record},
      {"reserve", command_kind::reserve},   {"commit", command_kind::commit},   {"release", command_kind::release},
      {"quota", command_kind::quota},       {"stats", command_kind::stats},     {"events", command_kind::events},
      {"reset", command_kind::reset},       {"upgrade", command_kind::upgrade}, {"expire", command_kind::expire},
      {"demo", command_kind::demo},         {"trial", command_kind::trial},     {"pay", command_kind::pay},
      {"payments", command_kind::payments}, {"cancel", command_kind::cancel},   {"schedule", command_kind::schedule},
      {"history", command_kind::history},   {"prune", command_kind::prune},
  }};
  for (const auto& [name, kind] : simple) {
    if (w == name) return std::pair{kind, std::size_t{1}};
  }
  if (w == "help") return std::pair{command_kind::help, words.size()};
  if (w == "version") return std::pair{command_kind::version, std::size_t{1}};
  if (w == "tier") {
    if (second() == "set") return std::pair{command_kind::tier_set, std::size_t{2}};
    return std::pair{command_kind::tier_show, std::size_t{1}};
  }
  if (w == "user") {
    const auto sub = second();
    if (sub == "add") return std::pair{command_kind::user_add, std::size_t{2}};
    if (sub == "show") return std::pair{command_kind::user_show, std::size_t{2}};
    if (sub == "zone") return std::pair{command_kind::user_zone, std::size_t{2}};
    if (!sub) return fail("`user` needs a subcommand: add, show or zone");
    return fail("unknown subcommand " + quoted(*sub) + " for `user` (expected add, show or zone)");
  }
  return fail("unknown command " + quoted(w));
}

}  // namespace

std::variant<std::chrono::year_month_day, std::string> parse_date(std::string_view text, std::string_view what) {
  const auto bad = [&] { return std::string(what) + ": expected a day as YYYY-MM-DD, got " + quoted(text); };
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return bad();
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i != 4 && i != 7 && (text[i] < '0' || text[i] > '9')) return bad();
  }
  const auto number = [&](std::size_t at, std::size_t len) {
    int v = 0;
    std::from_chars(text.data() + at, text.data() + at + len, v);
    return v;
  };
  const std::chrono::year_month_day day{std::chrono::year{number(0, 4)},
                                        std::chrono::month{static_cast<unsigned>(number(5, 2))},
                                        std::chrono::day{static_cast<unsigned>(number(8, 2))}};
  if (!day.ok()) return bad();
  return day;
}

std::variant<std::chrono::seconds, std::string> parse_duration(std::string_view text, std::string_view what) {
  const char unit = text.empty() ? '\0' : text.back();
  const std::int64_t scale = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : unit == 'd' ? 86400 : 0;
  auto parsed = parse_bounded(text.substr(0, text.empty() ? 0 : text.size() - 1), what,
                              std::numeric_limits<std::int64_t>::max() / 86400);
  if (scale == 0 || std::holds_alternative<std::string>(parsed))
    return std::string(what) + ": expected a duration such as 90m, 36h or 7d (s, m, h or d), got " + quoted(text);
  return std::chrono::seconds{std::get<std::int64_t>(parsed) * scale};
}

std::variant<std::int64_t, std::string> parse_count(std::string_view text, std::string_view what) {
  const std::string label(what);
  if (text.empty()) return label + ": expected a number, got an empty string";
  if (text.front() == '-') {
    const bool digits =
        text.size() > 1 && std::all_of(text.begin() + 1, text.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits) return label + " must not be negative (got " + printable(text) + ")";
  }
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return label + ": expected a whole number (digits only), got '" + printable(text) + "'";
  }
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range) {
    return label + ": '" + printable(text) + "' is too large (at most " +
           std::to_string(std::numeric_limits<std::int64_t>::max()) + ")";
  }
  if (ec != std::errc{} || end != text.data() + text.size()) {
    return label + ": expected a whole number (digits only), got '" + printable(text) + "'";
  }
  return value;
}

std::string printable(std::string_view s, std::size_t max_bytes) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(std::min(s.size(), max_bytes) + 8);
  auto escape_byte = [&](unsigned char b) {
    out += "\\x";
    out += hex[b >> 4];
    out += hex[b & 0xF];
  };
  std::size_t i = 0;
  while (i < s.size()) {
    if (out.size() >= max_bytes) {
      out += "…";
      return out;
    }
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      switch (b) {
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (b < 0x20 || b == 0x7F)
            escape_byte(b);
          else
            out += static_cast<char>(b);
      }
      ++i;
      continue;
    }
    // A multi-byte UTF-8 sequence: copy it when well-formed (no overlong
    // forms, no surrogates, at most U+10FFFF), else escape the lead byte.
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (b >= 0xC2 && b <= 0xDF) {
      len = 2;
      cp = b & 0x1Fu;
    } else if (b >= 0xE0 && b <= 0xEF) {
      len = 3;
      cp = b & 0x0Fu;
    } else if (b >= 0xF0 && b <= 0xF4) {
      len = 4;
      cp = b & 0x07u;
    }
    bool valid = len != 0 && i + len <= s.size();
    for (std::size_t k = 1; valid && k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) valid = false;
      cp = (cp << 6) | (c & 0x3Fu);
    }
    if (valid) {
      valid = !(len == 3 && cp < 0x800) && !(len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) &&
              !(cp >= 0xD800 && cp <= 0xDFFF);
    }
    if (!valid) {
      escape_byte(b);
      ++i;
      continue;
    }
    if (cp >= 0x80 && cp <= 0x9F) {
      escape_byte(static_cast<unsigned char>(cp));  // C1 control character
    } else {
      out.append(s.substr(i, len));
    }
    i += len;
  }
  return out;
}

std::string_view usage_text() { return usage; }

namespace {

/// The command line split into global options (applied to `cmd.global`),
/// command words and command options, before any is interpreted.
struct tokens {
  bool help = false;
  bool version = false;
  std::vector<std::string> words;
  std::vector<raw_option> options;
};

std::variant<tokens, usage_error> tokenize(const std::vector<std::string>& args, global_options& global) {
  tokens t;
  std::set<std::string_view> seen;
  bool end_of_options = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (end_of_options || arg.size() < 2 || arg[0] != '-') {
      t.words.push_back(arg);
      continue;
    }
    if (arg == "--") {
      end_of_options = true;
      continue;
    }
    if (arg == "-h") {
      t.help = true;
      continue;
    }
    if (arg[1] != '-') return fail("unknown option " + quoted(arg) + " (use -- before an argument that starts with -)");

    const auto eq = arg.find('=');
    const std::string_view written = std::string_view{arg}.substr(0, eq);
    const option_spec* spec = find_option(written);
    if (spec == nullptr) return fail("unknown option " + quoted(written));
    if (!seen.insert(spec->name).second) return fail("option " + std::string(spec->name) + " given twice");

    std::string value;
    if (spec->takes_value) {
      if (eq != std::string::npos) {
        value = arg.substr(eq + 1);
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return fail("option " + std::string(spec->name) + " needs a value");
      }
    } else if (eq != std::string::npos) {
      return fail("option " + std::string(spec->name) + " takes no value");
    }

    if (spec->name == "--db")
      global.db = std::move(value);
    else if (spec->name == "--tz")
      global.tz = std::move(value);
    else if (spec->name == "--json")
      global.json = true;
    else if (spec->name == "--currency")
      global.currency = std::move(value);
    else if (spec->name == "--grace") {
      auto parsed = parse_duration(value, "--grace");
      if (auto* message = std::get_if<std::string>(&parsed)) return fail(std::move(*message));
      global.grace = std::get<std::chrono::seconds>(parsed);
    } else if (spec->name == "--help")
      t.help = true;
    else if (spec->name == "--version")
      t.version = true;
    else
      t.options.push_back(raw_option{spec->name, std::move(value)});
  }
  return t;
}

/// Checks what only makes sense for the whole command.
std::optional<usage_error> check_combinations(const command& cmd) {
  if (cmd.kind == command_kind::migrate && cmd.migrate_to && cmd.migrate_down) {
    return fail("`migrate` takes --to or --down, not both");
  }
  if (cmd.kind == command_kind::commit && !cmd.tokens)
    return fail("`commit` needs --tokens N (the actual token count)");
  if (cmd.kind == command_kind::prune && !cmd.before)
    return fail("`prune` needs --before YYYY-MM-DD (the first day of the oldest month to keep)");
  if (cmd.kind == command_kind::pay && !cmd.amount)
    return fail("`pay` needs --amount N (what was received; it must be the tier's price times the months)");
  if (cmd.kind == command_kind::pay && !cmd.transaction_id)
    return fail("`pay` needs --transaction-id ID (the receipt's id; a repeat of it changes nothing)");
  if (cmd.kind == command_kind::tier_set && !cmd.daily && !cmd.monthly && !cmd.tokens_limit && !cmd.price &&
      !cmd.name && !cmd.name_fr && !cmd.visible && !cmd.order) {
    return fail(
        "`tier set` needs at least one change (--daily, --monthly, --tokens, --price, --name, "
        "--name-fr, --visible or --order)");
  }
  return std::nullopt;
}

}  // namespace

parse_result parse_args(const std::vector<std::string>& args) {
  command cmd;
  auto tokenized = tokenize(args, cmd.global);
  if (auto* e = std::get_if<usage_error>(&tokenized)) return std::move(*e);
  auto& t = std::get<tokens>(tokenized);

  if (t.help) {
    cmd.kind = command_kind::help;
    return cmd;
  }
  if (t.version) {
    cmd.kind = command_kind::version;
    return cmd;
  }
  if (t.words.empty()) return fail("no command given");

  auto identified = identify(t.words);
  if (auto* e = std::get_if<usage_error>(&identified)) return std::move(*e);
  const auto [kind, used] = std::get<std::pair<command_kind, std::size_t>>(identified);
  cmd.kind = kind;
  if (kind == command_kind::help) return cmd;
  if (kind == command_kind::version) {
    if (t.words.size() > 1) return fail("unexpected argument " + quoted(t.words[1]) + " for `version`");
    return cmd;
  }

  const command_shape shape = shape_of(kind);
  std::vector<std::string> rest(t.words.begin() + static_cast<std::ptrdiff_t>(used), t.words.end());

  // `reset` takes its period as a word rather than a free argument.
  if (kind == command_kind::reset) {
    if (rest.empty()) return fail("`reset` needs daily or monthly");
    if (rest.front() == "monthly")
      cmd.reset_monthly = true;
    else if (rest.front() != "daily")
      return fail("`reset` expects daily or monthly, got " + quoted(rest.front()));
    rest.erase(rest.begin());
  }

  if (rest.size() < shape.arguments.size()) {
    return fail("missing " + std::string(shape.arguments[rest.size()]) + " for `" + std::string(shape.display) + "`");
  }
  if (rest.size() > shape.arguments.size()) {
    return fail("unexpected argument " + quoted(rest[shape.arguments.size()]) + " for `" + std::string(shape.display) +
                "`");
  }
  for (std::size_t k = 0; k < shape.arguments.size(); ++k) {
    const std::string_view what = shape.arguments[k];
    if (what == "USER")
      cmd.user = rest[k];
    else if (what == "TIER" || what == "ID")
      cmd.tier = rest[k];
    else if (what == "RES")
      cmd.reservation = rest[k];
    else if (what == "ZONE")
      cmd.zone = rest[k];
  }

  for (const raw_option& opt : t.options) {
    if (std::find(shape.options.begin(), shape.options.end(), opt.name) == shape.options.end()) {
      return fail("option " + std::string(opt.name) + " does not apply to `" + std::string(shape.display) + "`");
    }
    if (auto message = apply_option(cmd, opt)) return fail(std::move(*message));
  }
  if (auto e = check_combinations(cmd)) return std::move(*e);
  return cmd;
}

}  // namespace kauri_quota_cli
