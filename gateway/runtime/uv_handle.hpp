// RAII for the libuv handles of the runtime. libuv frees nothing: a handle's memory must stay
// valid until its close callback, which runs on a later loop iteration. A UvHandle owns its
// handle on the heap; close() (or the destructor) hands that memory to the close callback, which
// frees it, so the owner may go away at once. Loop thread only.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>

namespace gw {

template <class H>
class UvHandle {
 public:
  // `on_fire` runs for every timer expiry / check (loop thread).
  UvHandle(uv_loop_t* loop, std::function<void()> on_fire) : state_(std::make_unique<State>()) {
    state_->fire = std::move(on_fire);
    if constexpr (std::is_same_v<H, uv_timer_t>)
      uv_timer_init(loop, &state_->handle);
    else
      uv_check_init(loop, &state_->handle);
    state_->handle.data = state_.get();
  }
  ~UvHandle() { close({}); }
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;

  // Timers: fires after `timeout_ms`, then every `repeat_ms` (0: once).
  void start(std::uint64_t timeout_ms,
             std::uint64_t repeat_ms = 0) requires std::is_same_v<H, uv_timer_t> {
    if (state_)
      uv_timer_start(
          &state_->handle, [](uv_timer_t* t) { static_cast<State*>(t->data)->fire(); }, timeout_ms,
          repeat_ms);
  }
  // Checks: runs once per loop iteration, after its I/O callbacks.
  void start() requires std::is_same_v<H, uv_check_t> {
    if (state_)
      uv_check_start(&state_->handle, [](uv_check_t* c) { static_cast<State*>(c->data)->fire(); });
  }
  void stop() {
    if (!state_) return;
    if constexpr (std::is_same_v<H, uv_timer_t>)
      uv_timer_stop(&state_->handle);
    else
      uv_check_stop(&state_->handle);
  }
  bool active() const noexcept { return state_ && uv_is_active(as_handle()) != 0; }

  // Closes the handle; `closed` runs from its close callback (after this object may be gone).
  void close(std::function<void()> closed) {
    if (!state_) return;
    state_->closed = std::move(closed);
    uv_handle_t* h = as_handle();
    static_cast<void>(state_.release());  // owned by the close callback from here
    uv_close(h, [](uv_handle_t* handle) {
      std::unique_ptr<State> s(static_cast<State*>(handle->data));
      if (s->closed) s->closed();
    });
  }

 private:
  struct State {
    H handle{};
    std::function<void()> fire;
    std::function<void()> closed;
  };
  uv_handle_t* as_handle() const noexcept {
    return reinterpret_cast<uv_handle_t*>(&state_->handle);  // libuv's handle "base class"
  }
  std::unique_ptr<State> state_;
};

using UvTimer = UvHandle<uv_timer_t>;
using UvCheck = UvHandle<uv_check_t>;

// Calls `done` once every handle given one of its callbacks has closed.
class CloseGroup {
 public:
  static std::shared_ptr<CloseGroup> make(std::function<void()> done) {
    return std::make_shared<CloseGroup>(std::move(done));
  }
  explicit CloseGroup(std::function<void()> done) : done_(std::move(done)) {}
  // One per handle: closes `h` and counts it.
  template <class H>
  static void close(const std::shared_ptr<CloseGroup>& g, UvHandle<H>& h) {
    h.close(hold(g));
  }
  // Counts one more handle closed elsewhere: call the result from its close callback.
  static std::function<void()> hold(const std::shared_ptr<CloseGroup>& g) {
    ++g->open_;
    return [g] {
      if (--g->open_ == 0 && g->done_) std::exchange(g->done_, {})();
    };
  }

 private:
  std::size_t open_ = 0;
  std::function<void()> done_;
};

}  // namespace gw
