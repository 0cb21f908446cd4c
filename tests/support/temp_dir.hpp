// A throw-away directory for one test.
#pragma once

#include <filesystem>

namespace kauri_quota::testing {

/// A directory under $TMPDIR (or /tmp) removed with its contents when the
/// object is destroyed. Move-only.
class temp_dir {
 public:
  temp_dir();
  temp_dir(temp_dir&& other) noexcept;
  temp_dir& operator=(temp_dir&& other) noexcept;
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir();

  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace kauri_quota::testing
