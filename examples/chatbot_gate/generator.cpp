#include "generator.hpp"

#include "http_url.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <regex>
#include <thread>

namespace kauri_gate {
namespace {

class stub_generator final : public generator {
 public:
  explicit stub_generator(const stub_options& opts) : opts_(opts), rng_(std::random_device{}()) {}

  generation_result generate(const std::string& message, std::int64_t max_tokens) override {
    if (opts_.latency.count() > 0) std::this_thread::sleep_for(opts_.latency);
    if (opts_.failure_rate > 0) {
      std::lock_guard lock(mutex_);
      if (std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < opts_.failure_rate)
        return {std::nullopt, "stub generator: injected failure"};
    }
    generation g;
    // The echo is cut at a character boundary so that the reply stays
    // valid UTF-8 whatever the message.
    std::size_t cut = std::min<std::size_t>(message.size(), 200);
    while (cut < message.size() && cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) --cut;
    g.reply = "You said: " + message.substr(0, cut);
    g.prompt_tokens = estimate_prompt_tokens(message);
    g.completion_tokens = std::min(opts_.tokens, max_tokens);
    return {std::move(g), {}};
  }

 private:
  stub_options opts_;
  std::mutex mutex_;
  std::mt19937_64 rng_;
};

class upstream_generator final : public generator {
 public:
  upstream_generator(upstream_options opts, std::string origin, std::string path)
      : opts_(std::move(opts)), origin_(std::move(origin)), path_(std::move(path)) {}

  generation_result generate(const std::string& message, std::int64_t max_tokens) override {
    // httplib::Client is not safe to share between threads, and a
    // connection per chat costs little next to a generation.
    httplib::Client client(origin_);
    client.set_connection_timeout(std::chrono::duration_cast<std::chrono::microseconds>(opts_.connect_timeout));
    client.set_read_timeout(std::chrono::duration_cast<std::chrono::microseconds>(opts_.read_timeout));
    client.set_write_timeout(std::chrono::duration_cast<std::chrono::microseconds>(opts_.write_timeout));
    client.set_keep_alive(false);
    httplib::Headers headers;
    if (!opts_.api_key.empty()) headers.emplace("Authorization", "Bearer " + opts_.api_key);

    nlohmann::json request = {{"model", opts_.model},
                              {"messages", nlohmann::json::array({{{"role", "user"}, {"content", message}}})},
                              {"max_tokens", max_tokens}};
    auto res = client.Post(path_, headers, request.dump(), "application/json");
    if (!res) return {std::nullopt, "upstream: " + httplib::to_string(res.error())};
    if (res->status != 200) return {std::nullopt, "upstream: HTTP " + std::to_string(res->status)};

    auto body = nlohmann::json::parse(res->body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) return {std::nullopt, "upstream: the answer is not a JSON object"};
    const auto* content = find_content(body);
    if (content == nullptr) return {std::nullopt, "upstream: no choices[0].message.content string"};
    generation g;
    g.reply = content->get<std::string>();
    // The usage is what the quota is settled with. An answer without it is
    // counted at the estimate (the prompt rule of thumb and max_tokens), so
    // that a reply is never counted as free.
    g.prompt_tokens = estimate_prompt_tokens(message);
    g.completion_tokens = max_tokens;
    if (auto u = body.find("usage"); u != body.end() && u->is_object()) {
      auto count = [&](const char* name) -> std::optional<std::int64_t> {
        auto f = u->find(name);
        if (f == u->end() || !f->is_number_integer() || f->get<std::int64_t>() < 0) return std::nullopt;
        return f->get<std::int64_t>();
      };
      auto p = count("prompt_tokens");
      auto c = count("completion_tokens");
      if (p && c) {
        g.prompt_tokens = *p;
        g.completion_tokens = *c;
      } else if (auto t = count("total_tokens")) {
        g.prompt_tokens = 0;
        g.completion_tokens = *t;
      } else {
        return {std::nullopt, "upstream: usage without token counts"};
      }
    }
    return {std::move(g), {}};
  }

 private:
  static const nlohmann::json* find_content(const nlohmann::json& body) {
    auto choices = body.find("choices");
    if (choices == body.end() || !choices->is_array() || choices->empty()) return nullptr;
    const auto& first = (*choices)[0];
    if (!first.is_object()) return nullptr;
    auto msg = first.find("message");
    if (msg == first.end() || !msg->is_object()) return nullptr;
    auto content = msg->find("content");
    if (content == msg->end() || !content->is_string()) return nullptr;
    return &*content;
  }

  upstream_options opts_;
  std::string origin_;
  std::string path_;
};

}  // namespace

std::int64_t estimate_prompt_tokens(const std::string& message) noexcept {
  return static_cast<std::int64_t>((message.size() + 3) / 4);
}

std::unique_ptr<generator> make_stub_generator(const stub_options& opts) {
  return std::make_unique<stub_generator>(opts);
}

std::unique_ptr<generator> make_upstream_generator(const upstream_options& opts, std::string& why) {
  auto url = parse_http_url(opts.url);
  if (!url) {
    why = "--upstream must be http(s)://host[:port][/base]";
    return nullptr;
  }
  return std::make_unique<upstream_generator>(opts, url->origin, url->base + "/v1/chat/completions");
}

std::optional<http_url> parse_http_url(const std::string& text) {
  static const std::regex shape(
      R"(^(https?://(?:[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?)(/[A-Za-z0-9._~!$&'()*+,;=:@%/\-]*)?$)");
  std::smatch m;
  if (!std::regex_match(text, m, shape)) return std::nullopt;
  http_url u{m[1].str(), m[2].matched ? m[2].str() : std::string{}};
  while (!u.base.empty() && u.base.back() == '/') u.base.pop_back();
  return u;
}

}  // namespace kauri_gate
