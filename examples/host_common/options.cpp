#include "host_common/options.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>

namespace kauri_host {

std::string parsed_options::get(const std::string& name) const {
  const auto it = values.find(name);
  return it == values.end() ? std::string() : it->second;
}

env_lookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    // NOLINTNEXTLINE(concurrency-mt-unsafe): read at start-up, before any thread
    const char* v = std::getenv(name.c_str());
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  };
}

parsed_options parse_options(const std::vector<option_spec>& specs, const std::vector<std::string>& args,
                             const env_lookup& env) {
  parsed_options out;
  const auto find = [&specs](std::string_view name) -> const option_spec* {
    for (const option_spec& s : specs) {
      if (s.name == name) return &s;
    }
    return nullptr;
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      out.help = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0 || arg.size() == 2) {
      out.error = "unexpected argument '" + arg + "'";
      return out;
    }
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (const std::size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    const option_spec* spec = find(name);
    if (spec == nullptr) {
      out.error = "unknown option --" + name;
      return out;
    }
    if (out.values.count(name) != 0) {
      out.error = "option --" + name + " given twice";
      return out;
    }
    if (!spec->takes_value) {
      if (value) {
        out.error = "option --" + name + " takes no value";
        return out;
      }
      out.values[name] = "1";
      continue;
    }
    if (!value) {
      if (i + 1 >= args.size()) {
        out.error = "option --" + name + " needs a value";
        return out;
      }
      value = args[++i];
    }
    out.values[name] = *value;
  }
  for (const option_spec& s : specs) {
    if (out.values.count(s.name) != 0) continue;
    if (!s.env.empty()) {
      if (std::optional<std::string> v = env(s.env)) {
        if (!s.takes_value) {
          const std::optional<bool> on = parse_bool(*v);
          if (!on) {
            out.error = s.env + " must be 1/0, true/false, yes/no or on/off";
            return out;
          }
          if (*on) out.values[s.name] = "1";
          continue;
        }
        out.values[s.name] = *v;
        continue;
      }
    }
    if (!s.default_value.empty()) out.values[s.name] = s.default_value;
  }
  return out;
}

std::string usage_text(std::string_view program, const std::vector<option_spec>& specs) {
  std::string text =
      "Usage: " + std::string(program) + " [options]\n\nOptions (each also from its environment variable):\n";
  for (const option_spec& s : specs) {
    std::string left = "  --" + s.name + (s.takes_value ? " VALUE" : "");
    if (left.size() < 28) left.resize(28, ' ');
    text += left + s.help;
    if (!s.default_value.empty()) text += " (default " + s.default_value + ")";
    if (!s.env.empty()) text += " [$" + s.env + "]";
    text += '\n';
  }
  text += "  --help                    this text\n";
  return text;
}

std::optional<long long> parse_integer(std::string_view text, long long min, long long max) {
  long long v = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (text.empty() || text.front() == '+') return std::nullopt;
  const auto [ptr, ec] = std::from_chars(first, last, v);
  if (ec != std::errc() || ptr != last || v < min || v > max) return std::nullopt;
  return v;
}

std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  long long unit = 1;
  std::string_view digits = text;
  switch (text.back()) {
    case 's':
      digits.remove_suffix(1);
      break;
    case 'm':
      unit = 60;
      digits.remove_suffix(1);
      break;
    case 'h':
      unit = 3600;
      digits.remove_suffix(1);
      break;
    case 'd':
      unit = 86400;
      digits.remove_suffix(1);
      break;
    default:
      break;
  }
  constexpr long long ten_years = 10LL * 366 * 86400;
  const std::optional<long long> n = parse_integer(digits, 1, ten_years);
  if (!n || *n > ten_years / unit) return std::nullopt;
  return std::chrono::seconds{*n * unit};
}

std::optional<std::chrono::seconds> parse_grace_period(std::string_view text) {
  if (text == "0") return std::chrono::seconds{0};
  const std::optional<std::chrono::seconds> d = parse_duration(text);
  if (!d || *d > std::chrono::hours{24 * 90}) return std::nullopt;
  return d;
}

std::optional<bool> parse_bool(std::string_view text) {
  std::string t(text);
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (t == "1" || t == "true" || t == "yes" || t == "on") return true;
  if (t == "0" || t == "false" || t == "no" || t == "off") return false;
  return std::nullopt;
}

std::optional<host_port> parse_host_port(std::string_view text) {
  host_port hp;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
    hp.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    hp.host = std::string(text.substr(0, colon));
    if (hp.host.find(':') != std::string::npos) return std::nullopt;
    port = text.substr(colon + 1);
  }
  if (hp.host.empty()) return std::nullopt;
  const std::optional<long long> p = parse_integer(port, 0, 65535);
  if (!p) return std::nullopt;
  hp.port = static_cast<int>(*p);
  return hp;
}

}  // namespace kauri_host
