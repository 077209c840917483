#include "transports/ble/bus_loop.hpp"

#include <poll.h>
#include <unistd.h>

#include <sdbus-c++/IConnection.h>
#include <cassert>
#include <cstdint>
#include <exception>
#include <limits>

namespace transport::ble {

BusLoop::BusLoop(uv_loop_t* loop, sdbus::IConnection& conn, ErrorFn on_error)
    : loop_(loop), conn_(conn), on_error_(std::move(on_error)) {}

BusLoop::~BusLoop() {
  // Handles must have been closed (their memory is ours).
  assert(open_handles_ == 0);
  if (fd_ >= 0) ::close(fd_);
}

bool BusLoop::start() {
  if (started_) return !failed_;
  started_ = true;
  try {
    fd_ = ::dup(conn_.getEventLoopPollData().fd);
  } catch (const std::exception& e) {
    fail(std::string("D-Bus connection unusable: ") + e.what());
    return false;
  }
  if (fd_ < 0) {
    fail("D-Bus connection has no file descriptor");
    return false;
  }
  uv_poll_init(loop_, &poll_, fd_);
  uv_timer_init(loop_, &timer_);
  uv_prepare_init(loop_, &prepare_);
  poll_.data = this;
  timer_.data = this;
  prepare_.data = this;
  open_handles_ = 3;
  uv_prepare_start(&prepare_, &BusLoop::on_prepare);
  refresh();
  return !failed_;
}

void BusLoop::close(std::function<void()> on_closed) {
  on_closed_ = std::move(on_closed);
  closing_ = true;
  if (open_handles_ == 0) {
    if (on_closed_) on_closed_();
    return;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), &BusLoop::on_close);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &BusLoop::on_close);
  uv_close(reinterpret_cast<uv_handle_t*>(&prepare_), &BusLoop::on_close);
}

void BusLoop::on_close(uv_handle_t* h) {
  auto* self = static_cast<BusLoop*>(h->data);
  if (--self->open_handles_ == 0 && self->on_closed_) {
    auto done = std::move(self->on_closed_);
    done();
  }
}

void BusLoop::on_poll(uv_poll_t* h, int /*status*/, int /*events*/) {
  static_cast<BusLoop*>(h->data)->process();
}
void BusLoop::on_timer(uv_timer_t* h) {
  static_cast<BusLoop*>(h->data)->process();
}

void BusLoop::on_prepare(uv_prepare_t* h) {
  auto* self = static_cast<BusLoop*>(h->data);
  if (self->before_poll_) self->before_poll_();
  self->refresh();
}

void BusLoop::process() {
  if (failed_ || closing_) return;
  try {
    while (conn_.processPendingRequest()) {
    }
  } catch (const std::exception& e) {
    fail(std::string("D-Bus connection lost: ") + e.what());
    return;
  }
  refresh();
}

void BusLoop::refresh() {
  if (failed_ || closing_ || open_handles_ == 0) return;
  sdbus::IConnection::PollData pd{};
  try {
    pd = conn_.getEventLoopPollData();
  } catch (const std::exception& e) {
    fail(std::string("D-Bus connection lost: ") + e.what());
    return;
  }
  int events = 0;
  if (pd.events & POLLIN) events |= UV_READABLE;
  if (pd.events & POLLOUT) events |= UV_WRITABLE;
  events |= UV_DISCONNECT;
  if (events != poll_events_) {
    uv_poll_start(&poll_, events, &BusLoop::on_poll);
    poll_events_ = events;
  }
  if (pd.timeout_usec == std::numeric_limits<std::uint64_t>::max()) {
    uv_timer_stop(&timer_);
    return;
  }
  // A timeout of 0 means messages are already queued: run the timer in this very iteration.
  const int ms = pd.getPollTimeout();
  uv_timer_start(&timer_, &BusLoop::on_timer, ms < 0 ? 0 : static_cast<std::uint64_t>(ms), 0);
}

void BusLoop::fail(const std::string& why) {
  if (failed_) return;
  failed_ = true;
  if (open_handles_ > 0 && !closing_) {
    uv_poll_stop(&poll_);
    uv_timer_stop(&timer_);
  }
  if (on_error_) on_error_(why);
}

}  // namespace transport::ble
