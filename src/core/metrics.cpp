#include <kauri_quota/metrics.hpp>

#include "core/metrics_registry.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

namespace kauri_quota {

const char* to_string(metered_call c) noexcept {
  switch (c) {
    case metered_call::consume:
      return "consume";
    case metered_call::reserve:
      return "reserve";
    case metered_call::commit:
      return "commit";
    case metered_call::release:
      return "release";
    case metered_call::record:
      return "record";
    case metered_call::quota_read:
      return "quota_read";
  }
  return "unknown";
}

namespace {

constexpr std::array<metered_call, metered_call_count> all_calls{metered_call::consume, metered_call::reserve,
                                                                 metered_call::commit,  metered_call::release,
                                                                 metered_call::record,  metered_call::quota_read};

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out), "# HELP kauri_quota_{} {}\n# TYPE kauri_quota_{} {}\n", name, help, name,
                 type);
}

}  // namespace

std::string to_prometheus(const metrics_snapshot& m) {
  std::string out;
  auto sample = [&](std::string_view name, std::string_view labels, auto value) {
    fmt::format_to(std::back_inserter(out), "kauri_quota_{}{}{}{} {}\n", name, labels.empty() ? "" : "{", labels,
                   labels.empty() ? "" : "}", value);
  };

  family(out, "decisions_total", "counter",
         "Answers of try_consume and reserve, by result and denying limit (shadow_denied: admitted in shadow mode).");
  sample("decisions_total", R"(result="allowed",limit="none")", m.allowed);
  sample("decisions_total", R"(result="denied",limit="daily")", m.denied_daily);
  sample("decisions_total", R"(result="denied",limit="monthly")", m.denied_monthly);
  sample("decisions_total", R"(result="denied",limit="tokens")", m.denied_tokens);
  sample("decisions_total", R"(result="shadow_denied",limit="daily")", m.shadow_denied_daily);
  sample("decisions_total", R"(result="shadow_denied",limit="monthly")", m.shadow_denied_monthly);
  sample("decisions_total", R"(result="shadow_denied",limit="tokens")", m.shadow_denied_tokens);

  family(out, "replayed_total", "counter", "Answers to a retried request_id, given without counting again.");
  sample("replayed_total", "", m.replayed);

  family(out, "cached_denials_total", "counter",
         "Denials answered from the denial cache without reading or auditing (counted in decisions_total too).");
  sample("cached_denials_total", "", m.cached_denials);

  family(out, "failed_calls_total", "counter", "Calls that returned an error instead of an answer, by call.");
  for (const auto c : all_calls)
    sample("failed_calls_total", fmt::format(R"(call="{}")", to_string(c)), m.of(c).failed);

  family(out, "errors_total", "counter", "Errors returned by the timed calls, by code.");
  for (std::size_t e = 1; e < m.errors.size(); ++e) {
    sample("errors_total", fmt::format(R"(code="{}")", to_string(static_cast<errc>(e))), m.errors[e]);
  }

  family(out, "call_duration_seconds", "histogram", "Time spent in quota_service calls, answered or failed.");
  for (const auto c : all_calls) {
    const call_metrics& cm = m.of(c);
    for (std::size_t i = 0; i < latency_bounds.size(); ++i) {
      sample("call_duration_seconds_bucket", fmt::format(R"(call="{}",le="{}")", to_string(c), latency_bounds[i]),
             cm.at_most[i]);
    }
    sample("call_duration_seconds_bucket", fmt::format(R"(call="{}",le="+Inf")", to_string(c)), cm.calls);
    sample("call_duration_seconds_sum", fmt::format(R"(call="{}")", to_string(c)), cm.seconds);
    sample("call_duration_seconds_count", fmt::format(R"(call="{}")", to_string(c)), cm.calls);
  }
  return out;
}

namespace detail {

void metrics_registry::observe(metered_call c, std::chrono::steady_clock::duration took,
                               const error* failure) noexcept {
  constexpr auto relaxed = std::memory_order_relaxed;
  call_cells& cells = calls_[static_cast<std::size_t>(c)];
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(took).count();
  const double seconds = static_cast<double>(ns) / 1e9;
  const auto bucket = static_cast<std::size_t>(std::lower_bound(latency_bounds.begin(), latency_bounds.end(), seconds) -
                                               latency_bounds.begin());
  if (bucket < cells.within.size()) cells.within[bucket].fetch_add(1, relaxed);
  cells.nanoseconds.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(ns, 0)), relaxed);
  if (failure != nullptr) {
    cells.failed.fetch_add(1, relaxed);
    const auto code = failure->code.category() == quota_category() ? failure->code.value() : 0;
    const auto index = code > 0 && static_cast<std::size_t>(code) < errors_.size()
                           ? static_cast<std::size_t>(code)
                           : static_cast<std::size_t>(errc::internal);
    errors_[index].fetch_add(1, relaxed);
  }
  // Last, so that a reader never sees more calls than the buckets and the
  // failures account for.
  cells.calls.fetch_add(1, std::memory_order_release);
}

void metrics_registry::decided(const decision& d) noexcept {
  constexpr auto relaxed = std::memory_order_relaxed;
  if (d.replayed) replayed_.fetch_add(1, relaxed);
  if (d.cached) cached_.fetch_add(1, relaxed);
  if (d.shadow) {
    (d.denied_by == limit_kind::daily     ? shadow_daily_
     : d.denied_by == limit_kind::monthly ? shadow_monthly_
                                          : shadow_tokens_)
        .fetch_add(1, relaxed);
    return;
  }
  if (d.allowed) {
    allowed_.fetch_add(1, relaxed);
    return;
  }
  switch (d.denied_by) {
    case limit_kind::daily:
      denied_daily_.fetch_add(1, relaxed);
      break;
    case limit_kind::monthly:
      denied_monthly_.fetch_add(1, relaxed);
      break;
    case limit_kind::tokens:
    case limit_kind::none:
      denied_tokens_.fetch_add(1, relaxed);
      break;
  }
}

metrics_snapshot metrics_registry::snapshot() const noexcept {
  constexpr auto relaxed = std::memory_order_relaxed;
  metrics_snapshot m;
  m.allowed = allowed_.load(relaxed);
  m.denied_daily = denied_daily_.load(relaxed);
  m.denied_monthly = denied_monthly_.load(relaxed);
  m.denied_tokens = denied_tokens_.load(relaxed);
  m.replayed = replayed_.load(relaxed);
  m.shadow_denied_daily = shadow_daily_.load(relaxed);
  m.shadow_denied_monthly = shadow_monthly_.load(relaxed);
  m.shadow_denied_tokens = shadow_tokens_.load(relaxed);
  m.cached_denials = cached_.load(relaxed);
  for (std::size_t c = 0; c < calls_.size(); ++c) {
    const call_cells& cells = calls_[c];
    call_metrics& cm = m.calls[c];
    cm.calls = cells.calls.load(std::memory_order_acquire);
    cm.failed = std::min(cells.failed.load(relaxed), cm.calls);
    cm.seconds = static_cast<double>(cells.nanoseconds.load(relaxed)) / 1e9;
    std::uint64_t running = 0;
    for (std::size_t i = 0; i < cells.within.size(); ++i) {
      running += cells.within[i].load(relaxed);
      cm.at_most[i] = std::min(running, cm.calls);
    }
  }
  for (std::size_t e = 0; e < errors_.size(); ++e) m.errors[e] = errors_[e].load(relaxed);
  return m;
}

}  // namespace detail
}  // namespace kauri_quota
