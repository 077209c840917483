#include "transports/ble/fd_poll.hpp"

#include <fcntl.h>

namespace transport::ble {

std::unique_ptr<FdPoll> FdPoll::open(uv_loop_t* loop, sdbus::UnixFd fd, EventFn on_event) {
  if (!fd.isValid()) return nullptr;
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK) < 0) return nullptr;
  auto p = std::make_unique<FdPoll>(Private{});
  p->fd_ = std::move(fd);
  p->on_event_ = std::move(on_event);
  if (uv_poll_init(loop, &p->handle_, p->fd_.get()) != 0) return nullptr;
  p->handle_.data = p.get();
  p->update();
  return p;
}

void FdPoll::update() {
  const int events = UV_READABLE | UV_DISCONNECT | (writable_ ? UV_WRITABLE : 0);
  uv_poll_start(&handle_, events, [](uv_poll_t* h, int status, int ev) {
    auto* self = static_cast<FdPoll*>(h->data);
    // A copy: the callback may close this FdPoll, which drops on_event_.
    if (auto fn = self->on_event_) fn(status, ev);
  });
}

void FdPoll::want_writable(bool on) {
  if (on == writable_) return;
  writable_ = on;
  update();
}

void FdPoll::close(std::unique_ptr<FdPoll> p) {
  if (!p) return;
  p->on_event_ = nullptr;
  uv_poll_stop(&p->handle_);
  auto* handle = reinterpret_cast<uv_handle_t*>(&p->handle_);
  handle->data = p.release();  // owned by the handle until its close callback
  uv_close(handle,
           [](uv_handle_t* h) { std::unique_ptr<FdPoll> owned(static_cast<FdPoll*>(h->data)); });
}

}  // namespace transport::ble
