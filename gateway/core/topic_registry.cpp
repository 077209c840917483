#include "gateway/core/topic_registry.hpp"

#include <algorithm>
#include <utility>

#include "mqttsn/topic.hpp"

namespace gw {

namespace {
// 0x0000 and 0xFFFF are reserved (§5.3.11).
bool usable(std::uint16_t id) noexcept {
  return id != 0x0000 && id != 0xFFFF;
}
constexpr std::size_t kUsableIds = 0xFFFE;
}  // namespace

TopicRegistry::TopicRegistry(std::shared_ptr<const PredefinedTopics> predefined)
    : predefined_(std::move(predefined)) {}

std::optional<std::uint16_t> TopicRegistry::assign(std::string_view name) {
  if (auto id = id_of(name)) return id;
  if (by_id_.size() >= kUsableIds) return std::nullopt;
  while (!usable(next_id_) || by_id_.contains(next_id_)) ++next_id_;  // wraps; a free id exists
  const std::uint16_t id = next_id_++;
  by_id_.emplace(id, Entry{std::string(name), false});
  by_name_.emplace(std::string(name), id);
  return id;
}

std::optional<std::uint16_t> TopicRegistry::id_of(std::string_view name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return std::nullopt;
  return it->second;
}

const std::string* TopicRegistry::name_of(std::uint16_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second.name;
}

bool TopicRegistry::known_by_client(std::uint16_t id) const {
  auto it = by_id_.find(id);
  return it != by_id_.end() && it->second.known;
}

void TopicRegistry::set_known_by_client(std::uint16_t id, bool known) {
  if (auto it = by_id_.find(id); it != by_id_.end()) it->second.known = known;
}

void TopicRegistry::forget_client_knowledge() {
  for (auto& [id, entry] : by_id_) entry.known = false;
}

void TopicRegistry::reject(std::string_view name) {
  rejected_.emplace(name);
}

bool TopicRegistry::rejected(std::string_view name) const {
  return rejected_.contains(name);
}

void TopicRegistry::clear_rejections() {
  rejected_.clear();
}

void TopicRegistry::clear() {
  by_id_.clear();
  by_name_.clear();
  rejected_.clear();
  next_id_ = 1;
}

std::vector<TopicRegistration> TopicRegistry::registrations() const {
  std::vector<TopicRegistration> out;
  out.reserve(by_id_.size());
  for (const auto& [id, entry] : by_id_) out.push_back({id, entry.name, entry.known});
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

void TopicRegistry::restore(const std::vector<TopicRegistration>& regs, std::uint16_t next_id) {
  clear();
  for (const auto& r : regs) {
    // A damaged store must not break the registry's invariant (one name <-> one id).
    if (!usable(r.id) || by_id_.contains(r.id) || by_name_.contains(r.name)) continue;
    by_id_.emplace(r.id, Entry{r.name, r.known_by_client});
    by_name_.emplace(r.name, r.id);
  }
  next_id_ = usable(next_id) ? next_id : 1;
}

const std::string* TopicRegistry::predefined_name(std::uint16_t id) const {
  return predefined_ ? predefined_->name_of(id) : nullptr;
}

std::optional<std::uint16_t> TopicRegistry::predefined_id(std::string_view name) const {
  if (!predefined_) return std::nullopt;
  return predefined_->id_of(name);
}

std::optional<std::string> TopicRegistry::resolve(mqttsn::TopicIdType type,
                                                  std::uint16_t id) const {
  switch (type) {
    case mqttsn::TopicIdType::Normal:
      if (const auto* n = name_of(id)) return *n;
      return std::nullopt;
    case mqttsn::TopicIdType::Predefined:
      if (const auto* n = predefined_name(id)) return *n;
      return std::nullopt;
    case mqttsn::TopicIdType::Short:
      return mqttsn::short_topic_name(id);
  }
  return std::nullopt;
}

std::optional<ClientTopic> TopicRegistry::for_client(std::string_view name) {
  if (auto id = predefined_id(name))
    return ClientTopic{mqttsn::TopicIdType::Predefined, *id, false};
  if (mqttsn::is_short_topic(name))
    return ClientTopic{mqttsn::TopicIdType::Short, mqttsn::short_topic_id(name), false};
  auto id = assign(name);
  if (!id) return std::nullopt;
  return ClientTopic{mqttsn::TopicIdType::Normal, *id, !known_by_client(*id)};
}

}  // namespace gw
