// The reply generators behind POST /api/v1/chat: a stub for tests and load
// runs, and a client of an OpenAI-compatible /v1/chat/completions endpoint.
//
// A generator is called by many request threads at once; both kinds are
// safe for that. A failure is a value (the gate releases the reservation
// and answers 502), never an exception.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>

namespace kauri_gate {

/// What a generator produced. Token counts are the ones the quota is
/// settled with, so they come from the generator (the upstream's `usage`),
/// not from the estimate.
struct generation {
  std::string reply;
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t total_tokens() const noexcept { return prompt_tokens + completion_tokens; }
};

struct generation_result {
  std::optional<generation> value;  ///< empty on failure
  std::string failure;              ///< why, for the log (never sent to the client)
};

class generator {
 public:
  virtual ~generator() = default;
  /// Produces a reply of at most `max_tokens` completion tokens.
  virtual generation_result generate(const std::string& message, std::int64_t max_tokens) = 0;
};

struct stub_options {
  std::chrono::milliseconds latency{0};  ///< sleep before answering
  std::int64_t tokens = 16;              ///< completion tokens (capped by max_tokens)
  double failure_rate = 0;               ///< 0..1: the fraction of calls that fail
};

/// Answers with an echo of the message after the configured latency; fails
/// at random with the configured rate. prompt_tokens is the message length
/// in bytes divided by four, rounded up (the usual rule of thumb).
std::unique_ptr<generator> make_stub_generator(const stub_options& opts);

struct upstream_options {
  std::string url;  ///< scheme://host[:port][/base]; the endpoint is base + /v1/chat/completions
  std::string model = "kauri";
  std::string api_key;  ///< sent as a bearer token when not empty
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds read_timeout{30000};
  std::chrono::milliseconds write_timeout{5000};
};

/// A client of `opts.url`; null, with the reason in `why`, when the URL is
/// not http(s)://host[:port][/base].
std::unique_ptr<generator> make_upstream_generator(const upstream_options& opts, std::string& why);

/// The prompt-token rule of thumb the stub uses (bytes / 4, rounded up).
std::int64_t estimate_prompt_tokens(const std::string& message) noexcept;

}  // namespace kauri_gate
