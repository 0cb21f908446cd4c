// Files embedded into a program at build time (see
// cmake/embed_assets.cmake: kauri_embed_assets), so that its pages work
// with nothing on disk and nothing fetched from the network.
#pragma once

#include <cstddef>
#include <string_view>

namespace kauri_host {

struct embedded_file {
  const char* name;  ///< path relative to the embedded folder, '/' separated
  const unsigned char* data;
  std::size_t size;
};

/// The files of one embedded folder; immutable, safe to share.
struct asset_bundle {
  const embedded_file* files = nullptr;
  std::size_t count = 0;

  /// The file called `name`, or nullptr.
  const embedded_file* find(std::string_view name) const noexcept;
};

/// The file's bytes as a string_view.
inline std::string_view bytes_of(const embedded_file& f) noexcept {
  return {reinterpret_cast<const char*>(f.data), f.size};
}

/// The Content-Type for a file name, from its extension (html, css, js,
/// svg, png, json, ico, txt, woff2); application/octet-stream otherwise.
std::string_view content_type_for(std::string_view name) noexcept;

}  // namespace kauri_host
