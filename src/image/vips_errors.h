#pragma once

// libvips reports errors into one buffer for the whole process: a message raised while one
// image decodes lands in the text of whatever error another image reports next, on any thread.
// imgflow replaces that buffer with one per operation. vips_errors.cpp defines libvips' own
// error functions (vips_error, vips_error_buffer, vips_error_clear, ...), which take precedence
// over libvips' definitions in the dynamic linker's lookup order, and wraps
// vips_threadpool_run, so that work libvips runs on its worker threads for an operation reports
// into that operation's buffer too. Internal to the image module.

#include <atomic>
#include <mutex>
#include <string>

namespace imgflow::image::detail {

// The errors of one operation. While an OperationErrors lives, libvips errors raised on the
// thread that made it, and on libvips' worker threads computing pixels for pipelines started
// from that thread, are collected here and nowhere else; other threads' errors never are. Make
// one per public entry point of the module, on its stack. Not copyable; thread-safe to append.
class OperationErrors {
 public:
  OperationErrors();
  ~OperationErrors();
  OperationErrors(const OperationErrors&) = delete;
  OperationErrors& operator=(const OperationErrors&) = delete;

  // Whether the operation's time limit stopped it (see mark_deadline_passed). A typed signal,
  // so that no error text has to be searched for "killed".
  bool deadline_passed() const { return deadline_passed_.load(); }

  // The operation on this thread (or the one this libvips worker is computing for), if any.
  static OperationErrors* current();

  // Records that the current operation was stopped by its time limit. No-op outside one.
  static void mark_deadline_passed();

 private:
  friend struct ErrorBuffer;  // vips_errors.cpp: appends and clears
  mutable std::mutex mu_;
  std::string text_;
  std::atomic<bool> deadline_passed_{false};
  OperationErrors* previous_;  // the one this thread had before: restored on destruction
};

}  // namespace imgflow::image::detail
