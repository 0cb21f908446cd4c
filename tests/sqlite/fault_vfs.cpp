// The fault-injecting VFS: a thin shim over the VFS that was the default
// (the unix VFS). Every sqlite3_file it opens is the wrapper below followed,
// in the same allocation, by the wrapped VFS's own file object.
#include "sqlite/fault_vfs.hpp"

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <cstddef>
#include <mutex>

namespace kauri_quota::testing {
namespace {

enum class op { read, write, sync, file_lock, shm_lock, truncate };

// Everything the shim decides on, under one mutex: SQLite may call in from
// any thread, and the operations the tests count are few enough that a
// mutex costs nothing measurable.
struct fault_state {
  std::mutex mutex;
  bool armed = false;
  fault_kind kind = fault_kind::write;
  std::int64_t nth = 0;
  fault_mode mode = fault_mode::transient;
  lock_failure how = lock_failure::busy;
  std::int64_t seen = 0;   // operations of `kind` since arm()
  std::int64_t fired = 0;  // of which failed
  io_counts counts;
  bool skip_sleeps = false;
};

fault_state& state() {
  static fault_state s;
  return s;
}

bool hits(fault_kind k, op o) noexcept {
  switch (k) {
    case fault_kind::write:
    case fault_kind::full_disk:
      return o == op::write;
    case fault_kind::sync:
      return o == op::sync;
    case fault_kind::lock:
      return o == op::file_lock || o == op::shm_lock;
    case fault_kind::truncate:
      return o == op::truncate;
    case fault_kind::read:
      return o == op::read;
  }
  return false;
}

int error_for(fault_kind k, lock_failure how, op o) noexcept {
  switch (k) {
    case fault_kind::write:
      return SQLITE_IOERR_WRITE;
    case fault_kind::full_disk:
      return SQLITE_FULL;
    case fault_kind::sync:
      return SQLITE_IOERR_FSYNC;
    case fault_kind::truncate:
      return SQLITE_IOERR_TRUNCATE;
    case fault_kind::read:
      return SQLITE_IOERR_READ;
    case fault_kind::lock:
      if (how == lock_failure::busy) return SQLITE_BUSY;
      return o == op::file_lock ? SQLITE_IOERR_LOCK : SQLITE_IOERR_SHMLOCK;
  }
  return SQLITE_IOERR;
}

/// Counts `o` and returns the error to report instead of doing it, or
/// SQLITE_OK to let it through.
int intercept(op o) {
  auto& s = state();
  std::lock_guard lock(s.mutex);
  switch (o) {
    case op::read:
      ++s.counts.reads;
      break;
    case op::write:
      ++s.counts.writes;
      break;
    case op::sync:
      ++s.counts.syncs;
      break;
    case op::file_lock:
      ++s.counts.file_locks;
      break;
    case op::shm_lock:
      ++s.counts.shm_locks;
      break;
    case op::truncate:
      ++s.counts.truncates;
      break;
  }
  if (!s.armed || !hits(s.kind, o)) return SQLITE_OK;
  ++s.seen;
  const bool fail = s.mode == fault_mode::transient ? s.seen == s.nth : s.seen >= s.nth;
  if (!fail) return SQLITE_OK;
  ++s.fired;
  return error_for(s.kind, s.how, o);
}

// --- Files ----------------------------------------------------------------------

sqlite3_vfs* wrapped_vfs = nullptr;

struct shim_file {
  sqlite3_file base;   // first, so a shim_file* is the sqlite3_file* SQLite holds
  sqlite3_file* real;  // the wrapped VFS's file, right after this struct
};

constexpr std::size_t real_offset =
    (sizeof(shim_file) + alignof(std::max_align_t) - 1) / alignof(std::max_align_t) * alignof(std::max_align_t);

sqlite3_file* real_of(sqlite3_file* f) noexcept { return reinterpret_cast<shim_file*>(f)->real; }

int shim_close(sqlite3_file* f) {
  sqlite3_file* r = real_of(f);
  return r->pMethods ? r->pMethods->xClose(r) : SQLITE_OK;
}

int shim_read(sqlite3_file* f, void* buf, int amount, sqlite3_int64 offset) {
  if (const int rc = intercept(op::read); rc != SQLITE_OK) return rc;
  sqlite3_file* r = real_of(f);
  return r->pMethods->xRead(r, buf, amount, offset);
}

int shim_write(sqlite3_file* f, const void* buf, int amount, sqlite3_int64 offset) {
  if (const int rc = intercept(op::write); rc != SQLITE_OK) return rc;
  sqlite3_file* r = real_of(f);
  return r->pMethods->xWrite(r, buf, amount, offset);
}

int shim_truncate(sqlite3_file* f, sqlite3_int64 size) {
  if (const int rc = intercept(op::truncate); rc != SQLITE_OK) return rc;
  sqlite3_file* r = real_of(f);
  return r->pMethods->xTruncate(r, size);
}

int shim_sync(sqlite3_file* f, int flags) {
  if (const int rc = intercept(op::sync); rc != SQLITE_OK) return rc;
  sqlite3_file* r = real_of(f);
  return r->pMethods->xSync(r, flags);
}

int shim_file_size(sqlite3_file* f, sqlite3_int64* size) {
  sqlite3_file* r = real_of(f);
  return r->pMethods->xFileSize(r, size);
}

int shim_lock(sqlite3_file* f, int level) {
  if (const int rc = intercept(op::file_lock); rc != SQLITE_OK) return rc;
  sqlite3_file* r = real_of(f);
  return r->pMethods->xLock(r, level);
}

int shim_unlock(sqlite3_file* f, int level) {
  sqlite3_file* r = real_of(f);
  return r->pMethods->xUnlock(r, level);
}

int shim_check_reserved_lock(sqlite3_file* f, int* out) {
  sqlite3_file* r = real_of(f);
  return r->pMethods->xCheckReservedLock(r, out);
}

int shim_file_control(sqlite3_file* f, int code, void* arg) {
  sqlite3_file* r = real_of(f);
  return r->pMethods->xFileControl(r, code, arg);
}

int shim_sector_size(sqlite3_file* f) {
  sqlite3_file* r = real_of(f);
  return r->pMethods->xSectorSize(r);
}

int shim_device_characteristics(sqlite3_file* f) {
  sqlite3_file* r = real_of(f);
  return r->pMethods->xDeviceCharacteristics(r);
}

int shim_shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  sqlite3_file* r = real_of(f);
  return r->pMethods->xShmMap(r, region, size, extend, out);
}

int shim_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  // Unlocking never fails on a real system; only lock requests are faults.
  if ((flags & SQLITE_SHM_LOCK) != 0) {
    if (const int rc = intercept(op::shm_lock); rc != SQLITE_OK) return rc;
  }
  sqlite3_file* r = real_of(f);
  return r->pMethods->xShmLock(r, offset, n, flags);
}

void shim_shm_barrier(sqlite3_file* f) {
  sqlite3_file* r = real_of(f);
  r->pMethods->xShmBarrier(r);
}

int shim_shm_unmap(sqlite3_file* f, int delete_flag) {
  sqlite3_file* r = real_of(f);
  return r->pMethods->xShmUnmap(r, delete_flag);
}

int shim_fetch(sqlite3_file* f, sqlite3_int64 offset, int amount, void** out) {
  sqlite3_file* r = real_of(f);
  return r->pMethods->xFetch(r, offset, amount, out);
}

int shim_unfetch(sqlite3_file* f, sqlite3_int64 offset, void* p) {
  sqlite3_file* r = real_of(f);
  return r->pMethods->xUnfetch(r, offset, p);
}

/// The methods for a wrapped file whose own methods are of `version`: SQLite
/// looks at iVersion before using the shared-memory (2) and mmap (3) ones.
constexpr sqlite3_io_methods make_methods(int version) {
  return sqlite3_io_methods{version,
                            shim_close,
                            shim_read,
                            shim_write,
                            shim_truncate,
                            shim_sync,
                            shim_file_size,
                            shim_lock,
                            shim_unlock,
                            shim_check_reserved_lock,
                            shim_file_control,
                            shim_sector_size,
                            shim_device_characteristics,
                            shim_shm_map,
                            shim_shm_lock,
                            shim_shm_barrier,
                            shim_shm_unmap,
                            shim_fetch,
                            shim_unfetch};
}

const sqlite3_io_methods methods_v1 = make_methods(1);
const sqlite3_io_methods methods_v2 = make_methods(2);
const sqlite3_io_methods methods_v3 = make_methods(3);

// --- The VFS -------------------------------------------------------------------------

int shim_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  auto* shim = reinterpret_cast<shim_file*>(f);
  shim->base.pMethods = nullptr;
  shim->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(f) + real_offset);
  shim->real->pMethods = nullptr;
  const int rc = wrapped_vfs->xOpen(wrapped_vfs, name, shim->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    // SQLite closes only files whose pMethods is set; close the wrapped
    // one here if its VFS left it half open.
    if (shim->real->pMethods) shim->real->pMethods->xClose(shim->real);
    return rc;
  }
  const int version = shim->real->pMethods->iVersion;
  shim->base.pMethods = version >= 3 ? &methods_v3 : version == 2 ? &methods_v2 : &methods_v1;
  return SQLITE_OK;
}

int shim_delete(sqlite3_vfs*, const char* name, int sync_dir) {
  return wrapped_vfs->xDelete(wrapped_vfs, name, sync_dir);
}

int shim_access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return wrapped_vfs->xAccess(wrapped_vfs, name, flags, out);
}

int shim_full_pathname(sqlite3_vfs*, const char* name, int size, char* out) {
  return wrapped_vfs->xFullPathname(wrapped_vfs, name, size, out);
}

void* shim_dl_open(sqlite3_vfs*, const char* name) { return wrapped_vfs->xDlOpen(wrapped_vfs, name); }

void shim_dl_error(sqlite3_vfs*, int size, char* out) { wrapped_vfs->xDlError(wrapped_vfs, size, out); }

void (*shim_dl_sym(sqlite3_vfs*, void* handle, const char* symbol))(void) {
  return wrapped_vfs->xDlSym(wrapped_vfs, handle, symbol);
}

void shim_dl_close(sqlite3_vfs*, void* handle) { wrapped_vfs->xDlClose(wrapped_vfs, handle); }

int shim_randomness(sqlite3_vfs*, int size, char* out) { return wrapped_vfs->xRandomness(wrapped_vfs, size, out); }

int shim_sleep(sqlite3_vfs*, int microseconds) {
  {
    auto& s = state();
    std::lock_guard lock(s.mutex);
    if (s.skip_sleeps) return microseconds;
  }
  return wrapped_vfs->xSleep(wrapped_vfs, microseconds);
}

int shim_current_time(sqlite3_vfs*, double* out) { return wrapped_vfs->xCurrentTime(wrapped_vfs, out); }

int shim_get_last_error(sqlite3_vfs*, int size, char* out) {
  return wrapped_vfs->xGetLastError ? wrapped_vfs->xGetLastError(wrapped_vfs, size, out) : 0;
}

int shim_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) {
  return wrapped_vfs->xCurrentTimeInt64(wrapped_vfs, out);
}

int shim_set_system_call(sqlite3_vfs*, const char* name, sqlite3_syscall_ptr p) {
  return wrapped_vfs->xSetSystemCall(wrapped_vfs, name, p);
}

sqlite3_syscall_ptr shim_get_system_call(sqlite3_vfs*, const char* name) {
  return wrapped_vfs->xGetSystemCall(wrapped_vfs, name);
}

const char* shim_next_system_call(sqlite3_vfs*, const char* name) {
  return wrapped_vfs->xNextSystemCall(wrapped_vfs, name);
}

sqlite3_vfs shim_vfs{};

}  // namespace

const char* to_string(fault_kind k) noexcept {
  switch (k) {
    case fault_kind::write:
      return "write";
    case fault_kind::sync:
      return "sync";
    case fault_kind::lock:
      return "lock";
    case fault_kind::full_disk:
      return "full_disk";
    case fault_kind::truncate:
      return "truncate";
    case fault_kind::read:
      return "read";
  }
  return "?";
}

const char* to_string(fault_mode m) noexcept { return m == fault_mode::transient ? "transient" : "persistent"; }

const char* to_string(lock_failure f) noexcept { return f == lock_failure::busy ? "busy" : "io_error"; }

std::int64_t io_counts::of(fault_kind k) const noexcept {
  switch (k) {
    case fault_kind::write:
    case fault_kind::full_disk:
      return writes;
    case fault_kind::sync:
      return syncs;
    case fault_kind::lock:
      return locks();
    case fault_kind::truncate:
      return truncates;
    case fault_kind::read:
      return reads;
  }
  return 0;
}

fault_vfs& fault_vfs::install() {
  static fault_vfs instance;
  static std::once_flag once;
  static int rc = SQLITE_OK;
  std::call_once(once, [] {
    rc = sqlite3_initialize();
    if (rc != SQLITE_OK) return;
    wrapped_vfs = sqlite3_vfs_find(nullptr);
    if (!wrapped_vfs) {
      rc = SQLITE_ERROR;
      return;
    }
    shim_vfs.iVersion = wrapped_vfs->iVersion < 3 ? wrapped_vfs->iVersion : 3;
    shim_vfs.szOsFile = static_cast<int>(real_offset) + wrapped_vfs->szOsFile;
    shim_vfs.mxPathname = wrapped_vfs->mxPathname;
    shim_vfs.zName = "kauri-quota-fault";
    shim_vfs.pAppData = nullptr;
    shim_vfs.xOpen = shim_open;
    shim_vfs.xDelete = shim_delete;
    shim_vfs.xAccess = shim_access;
    shim_vfs.xFullPathname = shim_full_pathname;
    shim_vfs.xDlOpen = shim_dl_open;
    shim_vfs.xDlError = shim_dl_error;
    shim_vfs.xDlSym = shim_dl_sym;
    shim_vfs.xDlClose = shim_dl_close;
    shim_vfs.xRandomness = shim_randomness;
    shim_vfs.xSleep = shim_sleep;
    shim_vfs.xCurrentTime = shim_current_time;
    shim_vfs.xGetLastError = shim_get_last_error;
    if (shim_vfs.iVersion >= 2) shim_vfs.xCurrentTimeInt64 = shim_current_time_int64;
    if (shim_vfs.iVersion >= 3) {
      shim_vfs.xSetSystemCall = shim_set_system_call;
      shim_vfs.xGetSystemCall = shim_get_system_call;
      shim_vfs.xNextSystemCall = shim_next_system_call;
    }
    rc = sqlite3_vfs_register(&shim_vfs, 1);
  });
  if (rc != SQLITE_OK) FAIL("cannot register the fault-injecting VFS: " << sqlite3_errstr(rc));
  return instance;
}

void fault_vfs::arm(fault_kind kind, std::int64_t n, fault_mode mode, lock_failure how) {
  auto& s = state();
  std::lock_guard lock(s.mutex);
  s.armed = true;
  s.kind = kind;
  s.nth = n;
  s.mode = mode;
  s.how = how;
  s.seen = 0;
  s.fired = 0;
}

void fault_vfs::disarm() {
  auto& s = state();
  std::lock_guard lock(s.mutex);
  s.armed = false;
}

std::int64_t fault_vfs::fired() const {
  auto& s = state();
  std::lock_guard lock(s.mutex);
  return s.fired;
}

io_counts fault_vfs::counts() const {
  auto& s = state();
  std::lock_guard lock(s.mutex);
  return s.counts;
}

void fault_vfs::reset_counts() {
  auto& s = state();
  std::lock_guard lock(s.mutex);
  s.counts = {};
}

void fault_vfs::skip_sleeps(bool on) {
  auto& s = state();
  std::lock_guard lock(s.mutex);
  s.skip_sleeps = on;
}

}  // namespace kauri_quota::testing
