#include "image/vips_errors.h"

#include <dlfcn.h>
#include <vips/vips.h>

#include <array>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <string_view>

namespace imgflow::image::detail {
namespace {

// As libvips' own buffer: enough for any real chain of messages, bounded against a file that
// makes a decoder complain once per row.
constexpr std::size_t kMaxText = std::size_t{8} * 1024;

thread_local OperationErrors* tls_operation = nullptr;
// vips_error_freeze() suppresses errors on the thread that called it only: libvips freezes
// around calls it expects may fail (trying loaders), and those are single-threaded.
thread_local int tls_frozen = 0;

}  // namespace

// Appends to and reads the buffer of the current operation, or of this thread when it runs none
// (libvips' start-up, and threads imgflow did not start an operation on).
struct ErrorBuffer {
  struct Unowned {
    std::mutex mu;
    std::string text;
  };

  static std::pair<std::mutex*, std::string*> current() {
    thread_local Unowned unowned;
    if (OperationErrors* op = tls_operation) return {&op->mu_, &op->text_};
    return {&unowned.mu, &unowned.text};
  }

  static void append(std::string_view line) {
    if (tls_frozen > 0) return;
    auto [mu, text] = current();
    const std::lock_guard lock(*mu);
    if (text->size() >= kMaxText) return;
    text->append(line.substr(0, kMaxText - text->size()));
  }

  // A copy, so the caller's pointer stays valid whatever other threads append afterwards.
  static const char* snapshot() {
    thread_local std::string copy;
    auto [mu, text] = current();
    const std::lock_guard lock(*mu);
    copy = *text;
    return copy.c_str();
  }

  static void clear() {
    auto [mu, text] = current();
    const std::lock_guard lock(*mu);
    text->clear();
  }
};

OperationErrors::OperationErrors() : previous_(tls_operation) { tls_operation = this; }

OperationErrors::~OperationErrors() { tls_operation = previous_; }

OperationErrors* OperationErrors::current() { return tls_operation; }

void OperationErrors::mark_deadline_passed() {
  if (OperationErrors* op = tls_operation) op->deadline_passed_ = true;
}

namespace {

// "domain: message\n", as libvips formats its buffer. The format attribute lets the compiler
// check the callers' formats, which come from libvips' own printf-style error functions.
__attribute__((format(printf, 2, 0))) void append_formatted(const char* domain, const char* format,
                                                            va_list ap,
                                                            const char* system_error = nullptr) {
  std::string line;
  if (domain != nullptr) line.append(domain).append(": ");
  char* message = g_strdup_vprintf(format, ap);
  line.append(message);
  g_free(message);
  line.append("\n");
  if (system_error != nullptr) line.append(system_error).append("\n");
  ErrorBuffer::append(line);
}

// What libvips' threadpool passes back to our wrappers: the caller's callbacks and client data,
// and the operation the caller's thread was running.
struct PoolClosure {
  VipsThreadStartFn start;
  VipsThreadpoolAllocateFn allocate;
  VipsThreadpoolWorkFn work;
  VipsThreadpoolProgressFn progress;
  void* a;
  OperationErrors* operation;
};

// Runs `fn` with the pool's operation as this thread's, then restores the thread's own: a
// libvips worker thread serves one pool at a time, but pools of many operations over its life.
template <typename Fn>
auto on_behalf_of(const PoolClosure& pool, Fn&& fn) {
  OperationErrors* const own = tls_operation;
  tls_operation = pool.operation;
  struct Restore {
    OperationErrors* own;
    ~Restore() { tls_operation = own; }
  } restore{own};
  return fn();
}

VipsThreadState* start_for(VipsImage* image, void* a) {
  auto* pool = static_cast<PoolClosure*>(a);
  return on_behalf_of(*pool, [&] { return pool->start(image, pool->a); });
}

int allocate_for(VipsThreadState* state, void* a, gboolean* stop) {
  auto* pool = static_cast<PoolClosure*>(a);
  return on_behalf_of(*pool, [&] { return pool->allocate(state, pool->a, stop); });
}

int work_for(VipsThreadState* state, void* a) {
  auto* pool = static_cast<PoolClosure*>(a);
  return on_behalf_of(*pool, [&] { return pool->work(state, pool->a); });
}

int progress_for(void* a) {
  auto* pool = static_cast<PoolClosure*>(a);
  return on_behalf_of(*pool, [&] { return pool->progress(pool->a); });
}

using ThreadpoolRun = int (*)(VipsImage*, VipsThreadStartFn, VipsThreadpoolAllocateFn,
                              VipsThreadpoolWorkFn, VipsThreadpoolProgressFn, void*);

ThreadpoolRun libvips_threadpool_run() {
  // The next definition after ours in the lookup order: libvips' own.
  static const auto run = reinterpret_cast<ThreadpoolRun>(dlsym(RTLD_NEXT, "vips_threadpool_run"));
  return run;
}

}  // namespace
}  // namespace imgflow::image::detail

// ---- libvips' error API, per operation ---------------------------------------------------------
// Same names and contracts as libvips' iofuncs/error.c; only where the text is kept differs.

using imgflow::image::detail::append_formatted;
using imgflow::image::detail::ErrorBuffer;

extern "C" {

// libvips declares its va_list entry points without a format attribute; redeclared with one,
// the compiler knows `fmt` is a printf format passed on, as for vips_error(). Not redundant:
// the attribute is the point.
// NOLINTNEXTLINE(readability-redundant-declaration)
__attribute__((format(printf, 2, 0))) void vips_verror(const char* domain, const char* fmt,
                                                       va_list ap);
// NOLINTNEXTLINE(readability-redundant-declaration)
__attribute__((format(printf, 3, 0))) void vips_verror_system(int err, const char* domain,
                                                              const char* fmt, va_list ap);

const char* vips_error_buffer() { return ErrorBuffer::snapshot(); }

char* vips_error_buffer_copy() {
  char* copy = g_strdup(ErrorBuffer::snapshot());
  ErrorBuffer::clear();
  return copy;
}

void vips_error_clear() { ErrorBuffer::clear(); }

void vips_error_freeze() { ++imgflow::image::detail::tls_frozen; }

void vips_error_thaw() {
  if (imgflow::image::detail::tls_frozen > 0) --imgflow::image::detail::tls_frozen;
}

void vips_verror(const char* domain, const char* fmt, va_list ap) {
  append_formatted(domain, fmt, ap);
}

void vips_error(const char* domain, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  append_formatted(domain, fmt, ap);
  va_end(ap);
}

void vips_verror_system(int err, const char* domain, const char* fmt, va_list ap) {
  std::array<char, 256> reason{};
  const char* text = strerror_r(err, reason.data(), reason.size());  // GNU: may not use reason
  append_formatted(domain, fmt, ap, text);
}

void vips_error_system(int err, const char* domain, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vips_verror_system(err, domain, fmt, ap);
  va_end(ap);
}

void vips_error_g(GError** error) {
  static const GQuark domain = g_quark_from_static_string("libvips");
  g_set_error(error, domain, -1, "%s", vips_error_buffer());
  vips_error_clear();
}

void vips_g_error(GError** error) {
  if (error != nullptr && *error != nullptr) {
    vips_error("glib", "%s\n", (*error)->message);
    g_error_free(*error);
    *error = nullptr;
  }
}

int vips_threadpool_run(VipsImage* image, VipsThreadStartFn start,
                        VipsThreadpoolAllocateFn allocate, VipsThreadpoolWorkFn work,
                        VipsThreadpoolProgressFn progress, void* a) {
  namespace d = imgflow::image::detail;
  d::PoolClosure pool{start, allocate, work, progress, a, d::OperationErrors::current()};
  return d::libvips_threadpool_run()(image, start != nullptr ? d::start_for : nullptr,
                                     d::allocate_for, d::work_for,
                                     progress != nullptr ? d::progress_for : nullptr, &pool);
}

}  // extern "C"
