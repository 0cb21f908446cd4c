// Fuzz target: the kauri-quota command-line parser (examples/cli/args.hpp).
//
// The input is split into arguments at NUL bytes (the one byte a real
// argument cannot contain), so "consume\0alice\0--tokens\0012" is the
// command line `consume alice --tokens 012`.
//
// Properties checked for every input:
// - parse_args, parse_count and printable never throw;
// - parse_args is a pure function: the same arguments give the same result;
// - a usage error is one line of valid UTF-8 without control characters,
//   at most a few hundred bytes however long the arguments are;
// - printable() output is valid UTF-8 without control characters and about
//   max_bytes long at most;
// - parse_count accepts exactly the non-empty strings of digits whose value
//   fits in int64, and returns that value.
#include "args.hpp"
#include "fuzz_support.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace {

using kauri_quota_fuzz::violated;

/// The longest fixed text of a usage error plus one shortened argument.
constexpr std::size_t max_usage_error_bytes = 300;
/// printable() may end a character (at most 4 bytes) past max_bytes, then
/// adds "…" (3 bytes).
constexpr std::size_t printable_slack_bytes = 3 + 3;

void check_one_line(std::string_view what, std::string_view input, const std::string& message, std::size_t max_bytes) {
  if (message.empty()) violated(std::string(what) + " is empty", input);
  if (message.size() > max_bytes) violated(std::string(what) + " is too long", input, message);
  if (!kauri_quota_fuzz::valid_utf8(message)) violated(std::string(what) + " is not valid UTF-8", input, message);
  if (kauri_quota_fuzz::has_control_character(message))
    violated(std::string(what) + " contains a control character", input, message);
}

void check_parse_args(const std::vector<std::string>& args, std::string_view input) {
  using namespace kauri_quota_cli;
  parse_result first;
  parse_result second;
  try {
    first = parse_args(args);
    second = parse_args(args);
  } catch (...) {
    violated("parse_args threw", input);
  }
  if (first.index() != second.index()) violated("parse_args gave two different results", input);
  if (const auto* e = std::get_if<usage_error>(&first)) {
    check_one_line("usage error", input, e->message, max_usage_error_bytes);
    if (e->message != std::get<usage_error>(second).message)
      violated("parse_args gave two different usage errors", input, e->message);
    return;
  }
  const command& cmd = std::get<command>(first);
  const command& again = std::get<command>(second);
  if (cmd.kind != again.kind || cmd.user != again.user || cmd.tier != again.tier ||
      cmd.reservation != again.reservation || cmd.global.db != again.global.db)
    violated("parse_args gave two different commands", input);
}

void check_printable(std::string_view arg, std::string_view input) {
  for (const std::size_t max_bytes : {std::size_t{40}, arg.size() % 64}) {
    std::string shown;
    try {
      shown = kauri_quota_cli::printable(arg, max_bytes);
    } catch (...) {
      violated("printable threw", input);
    }
    if (shown.size() > max_bytes + printable_slack_bytes) violated("printable output is too long", input, shown);
    if (!kauri_quota_fuzz::valid_utf8(shown)) violated("printable output is not valid UTF-8", input, shown);
    if (kauri_quota_fuzz::has_control_character(shown))
      violated("printable output contains a control character", input, shown);
  }
}

void check_parse_count(std::string_view arg, std::string_view input) {
  std::variant<std::int64_t, std::string> parsed;
  try {
    parsed = kauri_quota_cli::parse_count(arg, "--limit");
  } catch (...) {
    violated("parse_count threw", input);
  }
  bool digits = !arg.empty();
  for (const char c : arg) digits = digits && c >= '0' && c <= '9';
  std::string_view significant = arg;
  while (significant.size() > 1 && significant.front() == '0') significant.remove_prefix(1);
  // int64 max is 9223372036854775807 (19 digits).
  const bool fits =
      digits && (significant.size() < 19 || (significant.size() == 19 && significant <= "9223372036854775807"));

  if (const auto* value = std::get_if<std::int64_t>(&parsed)) {
    if (!fits) violated("parse_count accepted something other than a count that fits in int64", input, arg);
    if (std::to_string(*value) != significant)
      violated("parse_count returned the wrong value", input, std::to_string(*value));
    return;
  }
  const std::string& message = std::get<std::string>(parsed);
  if (fits) violated("parse_count rejected a valid count", input, message);
  check_one_line("parse_count message", input, message, max_usage_error_bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input{reinterpret_cast<const char*>(data), size};
  std::vector<std::string> args;
  if (!input.empty()) {
    for (std::size_t start = 0;;) {
      const std::size_t nul = input.find('\0', start);
      args.emplace_back(input.substr(start, nul == std::string_view::npos ? std::string_view::npos : nul - start));
      if (nul == std::string_view::npos) break;
      start = nul + 1;
    }
  }
  check_parse_args(args, input);
  for (const std::string& arg : args) {
    check_printable(arg, input);
    check_parse_count(arg, input);
  }
  return 0;
}
