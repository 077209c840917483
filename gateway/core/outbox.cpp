#include "gateway/core/outbox.hpp"

#include <algorithm>
#include <utility>

namespace gw {

std::optional<Outgoing> Outbox::push_back(Outgoing m) {
  queue_.push_back(std::move(m));
  if (queue_.size() <= capacity_) return std::nullopt;
  auto victim =
      std::find_if(queue_.begin(), queue_.end(), [](const Outgoing& o) { return o.qos == 0; });
  if (victim == queue_.end()) victim = queue_.begin();
  Outgoing dropped = std::move(*victim);
  queue_.erase(victim);
  ++dropped_;
  return dropped;
}

Outgoing Outbox::pop_front() {
  Outgoing m = std::move(queue_.front());
  queue_.pop_front();
  return m;
}

std::size_t Outbox::erase_topic(const std::string& topic) {
  const auto before = queue_.size();
  std::erase_if(queue_, [&](const Outgoing& o) { return o.topic == topic; });
  return before - queue_.size();
}

}  // namespace gw
