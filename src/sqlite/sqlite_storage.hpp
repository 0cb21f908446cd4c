// Factory of the SQLite backend (internal; the public entry is open_sqlite).
#pragma once

#include <kauri_quota/storage.hpp>

namespace kauri_quota::detail {

result<std::unique_ptr<storage>> open_sqlite_storage(const sqlite_options& opts);

}  // namespace kauri_quota::detail
