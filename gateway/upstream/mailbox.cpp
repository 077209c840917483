#include "gateway/upstream/mailbox.hpp"

#include <utility>

namespace gw {

Mailbox::Mailbox(uv_loop_t* loop, Handler handler) : handler_(std::move(handler)) {
  async_.data = this;
  if (uv_async_init(loop, &async_, &Mailbox::on_wake) == 0) {
    open_ = true;
    handle_closed_ = false;
  }
}

Mailbox::~Mailbox() = default;

void Mailbox::post(MailboxEvent event) {
  std::lock_guard lock(mutex_);
  if (!open_) return;
  queue_.push_back(std::move(event));
  // Only wake on the first event of a batch; the drain takes everything queued so far.
  if (queue_.size() == 1) uv_async_send(&async_);
}

void Mailbox::on_wake(uv_async_t* h) {
  static_cast<Mailbox*>(h->data)->drain();
}

void Mailbox::drain() {
  std::deque<MailboxEvent> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(queue_);
  }
  for (auto& e : batch) {
    if (!open_) return;  // closed by a handler: what is left is dropped
    handler_(std::move(e));
  }
}

void Mailbox::close() {
  {
    std::lock_guard lock(mutex_);
    if (!open_) return;
    open_ = false;
    queue_.clear();
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&async_),
           [](uv_handle_t* h) { static_cast<Mailbox*>(h->data)->handle_closed_ = true; });
}

}  // namespace gw
