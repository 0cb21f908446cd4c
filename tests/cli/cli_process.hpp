// Helpers for the kauri-quota tests: run the built binary with captured
// output, a throw-away directory per test, and a small JSON reader to check
// what the binary printed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cli_test {

/// What one run of the binary produced.
struct run_result {
  int exit_code = -1;  ///< exit status, or 128 + signal number
  std::string out;
  std::string err;
};

/// Runs `program` with `args` (and the environment of this process, minus
/// KAURI_QUOTA_DB, plus `env`), waits for it and returns its output.
run_result run_program(const std::string& program, const std::vector<std::string>& args,
                       const std::map<std::string, std::string>& env = {});

/// A temporary directory, removed with its contents on destruction.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

/// A parsed JSON value (enough to check the CLI's output).
class json {
 public:
  enum class kind { null, boolean, number, string, array, object };

  /// Parses a complete JSON text; std::nullopt when malformed.
  static std::optional<json> parse(std::string_view text);

  kind type() const noexcept { return kind_; }
  bool is_null() const noexcept { return kind_ == kind::null; }
  bool has(std::string_view key) const;
  /// Member `key` of an object; a null value when missing or not an object.
  const json& operator[](std::string_view key) const;
  /// Element `i` of an array; a null value when out of range.
  const json& operator[](std::size_t i) const;
  std::size_t size() const noexcept;

  bool as_bool() const noexcept { return boolean_; }
  std::int64_t as_int() const;
  const std::string& as_string() const noexcept { return text_; }

 private:
  friend class json_parser;
  kind kind_ = kind::null;
  bool boolean_ = false;
  std::string text_;  ///< string value, or the literal text of a number
  std::vector<json> items_;
  std::vector<std::pair<std::string, json>> members_;
};

/// The lines of `text` (without their newlines).
std::vector<std::string> lines_of(std::string_view text);

}  // namespace cli_test
