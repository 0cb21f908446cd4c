// Command-line options of the host programs, each with an environment
// variable as fallback (flag > environment > default), so that a program
// runs the same from a shell, a systemd unit or a container. Pure
// functions: the environment is passed in.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kauri_host {

struct option_spec {
  std::string name;           ///< without the leading "--", e.g. "listen"
  std::string env;            ///< environment variable, e.g. "KAURI_USER_SERVICE_LISTEN"; may be empty
  bool takes_value = true;    ///< false: a switch (--migrate); its variable is 1/0, true/false, yes/no
  std::string default_value;  ///< used when neither the flag nor the variable is set; empty: unset
  std::string help;
};

struct parsed_options {
  std::map<std::string, std::string> values;  ///< name -> value ("1" for a switch that is on)
  bool help = false;                          ///< --help or -h was given
  std::string error;                          ///< non-empty: a usage error, values incomplete

  bool has(const std::string& name) const { return values.count(name) != 0; }
  std::string get(const std::string& name) const;
};

using env_lookup = std::function<std::optional<std::string>(const std::string&)>;

/// The process environment as an env_lookup (empty variables count as unset).
env_lookup process_environment();

/// Parses `--name VALUE`, `--name=VALUE` and switches. An unknown option, a
/// missing value, a value given to a switch, a repeated option and a
/// positional argument are usage errors.
parsed_options parse_options(const std::vector<option_spec>& specs, const std::vector<std::string>& args,
                             const env_lookup& env);

/// "Usage: PROGRAM [options]" and one line per option with its variable.
std::string usage_text(std::string_view program, const std::vector<option_spec>& specs);

/// "90", "90s", "5m", "1h", "2d" (a bare number is seconds); nullopt when
/// malformed, zero or over ten years.
std::optional<std::chrono::seconds> parse_duration(std::string_view text);

/// A grace period: "0" or a duration up to 90 days (the library's range).
std::optional<std::chrono::seconds> parse_grace_period(std::string_view text);

/// "1", "true", "yes", "on" / "0", "false", "no", "off" (any case).
std::optional<bool> parse_bool(std::string_view text);

struct host_port {
  std::string host;
  int port = 0;  ///< 0: any free port
};

/// "HOST:PORT" or "[IPV6]:PORT" with PORT in 0..65535.
std::optional<host_port> parse_host_port(std::string_view text);

/// A decimal integer in [min, max].
std::optional<long long> parse_integer(std::string_view text, long long min, long long max);

}  // namespace kauri_host
