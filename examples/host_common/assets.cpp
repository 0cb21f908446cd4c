#include "host_common/assets.hpp"

#include <array>
#include <utility>

namespace kauri_host {

const embedded_file* asset_bundle::find(std::string_view name) const noexcept {
  for (std::size_t i = 0; i < count; ++i) {
    if (name == files[i].name) return &files[i];
  }
  return nullptr;
}

std::string_view content_type_for(std::string_view name) noexcept {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 10> types{{
      {".html", "text/html; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".json", "application/json"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
      {".woff2", "font/woff2"},
      {".webp", "image/webp"},
  }};
  for (const auto& [ext, type] : types) {
    if (name.size() > ext.size() && name.substr(name.size() - ext.size()) == ext) return type;
  }
  return "application/octet-stream";
}

}  // namespace kauri_host
