#include "gateway/core/predefined_topics.hpp"

namespace gw {

PredefinedTopicSet::PredefinedTopicSet(const std::map<std::uint16_t, std::string>& by_id)
    : by_id_(by_id.begin(), by_id.end()) {
  index();
}

PredefinedTopicSet::PredefinedTopicSet(std::unordered_map<std::uint16_t, std::string> by_id)
    : by_id_(std::move(by_id)) {
  index();
}

void PredefinedTopicSet::index() {
  for (const auto& [id, name] : by_id_) {
    auto [it, inserted] = by_name_.emplace(name, id);
    if (!inserted && id < it->second) it->second = id;
  }
}

const std::string* PredefinedTopicSet::name_of(std::uint16_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second;
}

std::optional<std::uint16_t> PredefinedTopicSet::id_of(std::string_view name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return std::nullopt;
  return it->second;
}

}  // namespace gw
