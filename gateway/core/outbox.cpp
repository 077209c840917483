#include "gateway/core/outbox.hpp"

#include <algorithm>
#include <utility>

namespace gw {

Outbox::Outbox(std::size_t capacity, std::size_t max_bytes, std::shared_ptr<BufferBudget> budget)
    : capacity_(capacity), max_bytes_(max_bytes), budget_(std::move(budget)) {}

Outbox::~Outbox() {
  clear();
}

Outbox::Outbox(Outbox&& other) noexcept
    : queue_(std::move(other.queue_)),
      capacity_(other.capacity_),
      max_bytes_(other.max_bytes_),
      budget_(std::move(other.budget_)),
      bytes_(std::exchange(other.bytes_, 0)),
      dropped_(other.dropped_) {
  other.queue_.clear();  // its messages are ours now, and so is their charge
}

Outbox& Outbox::operator=(Outbox&& other) noexcept {
  if (this == &other) return *this;
  clear();
  queue_ = std::move(other.queue_);
  other.queue_.clear();
  capacity_ = other.capacity_;
  max_bytes_ = other.max_bytes_;
  budget_ = std::move(other.budget_);
  bytes_ = std::exchange(other.bytes_, 0);
  dropped_ = other.dropped_;
  return *this;
}

void Outbox::charge(const Outgoing& m) noexcept {
  bytes_ += buffered_size(m);
  if (budget_) budget_->add(buffered_size(m));
}

void Outbox::release(const Outgoing& m) noexcept {
  bytes_ -= buffered_size(m);
  if (budget_) budget_->remove(buffered_size(m));
}

std::optional<DropReason> Outbox::over() const noexcept {
  if (queue_.size() > capacity_) return DropReason::ClientMessages;
  if (max_bytes_ != 0 && bytes_ > max_bytes_) return DropReason::ClientBytes;
  if (budget_ && budget_->over_messages()) return DropReason::TotalMessages;
  if (budget_ && budget_->over_bytes()) return DropReason::TotalBytes;
  return std::nullopt;
}

void Outbox::count(DropReason r) noexcept {
  ++dropped_;
  if (budget_) budget_->count_drop(r);
}

std::vector<Outbox::Dropped> Outbox::push_back(Outgoing m) {
  std::vector<Dropped> out;
  const std::size_t size = buffered_size(m);
  const bool too_big_here = max_bytes_ != 0 && size > max_bytes_;
  if (too_big_here || (budget_ && budget_->too_big(size))) {
    const auto reason = too_big_here ? DropReason::ClientBytes : DropReason::TotalBytes;
    count(reason);
    out.push_back({std::move(m), reason});
    return out;
  }
  charge(m);
  queue_.push_back(std::move(m));
  // Over a total cap, this client's own messages make room: the others' are not ours to drop.
  while (!queue_.empty()) {
    const auto reason = over();
    if (!reason) break;
    auto victim =
        std::find_if(queue_.begin(), queue_.end(), [](const Outgoing& o) { return o.qos == 0; });
    if (victim == queue_.end()) victim = queue_.begin();
    release(*victim);
    count(*reason);
    out.push_back({std::move(*victim), *reason});
    queue_.erase(victim);
  }
  return out;
}

void Outbox::push_front(Outgoing m) {
  charge(m);
  queue_.push_front(std::move(m));
}

Outgoing Outbox::pop_front() {
  Outgoing m = std::move(queue_.front());
  queue_.pop_front();
  release(m);
  return m;
}

std::size_t Outbox::erase_topic(const std::string& topic) {
  const auto before = queue_.size();
  std::erase_if(queue_, [&](const Outgoing& o) {
    if (o.topic != topic) return false;
    release(o);
    return true;
  });
  return before - queue_.size();
}

void Outbox::clear() {
  for (const auto& m : queue_) release(m);
  queue_.clear();
}

}  // namespace gw
