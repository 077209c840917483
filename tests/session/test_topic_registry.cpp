// The per-client topic registry and the bounded outbox on their own.
#include <memory>
#include <set>

#include "gateway/core/outbox.hpp"
#include "gateway/core/topic_registry.hpp"
#include "helpers.hpp"

using gw::ClientTopic;
using gw::Outbox;
using gw::Outgoing;
using gw::TopicRegistry;
using mqttsn::TopicIdType;

namespace {
std::shared_ptr<const gw::PredefinedTopics> predefined() {
  return std::make_shared<const gw::PredefinedTopics>(
      gw::PredefinedTopics{{1, "pre/one"}, {0x6162, "pre/ab"}, {9, "pre/one"}});
}
}  // namespace

TEST_CASE("registry: normal ids from 1, one per name, names and ids map both ways") {
  TopicRegistry r(nullptr);
  CHECK(r.assign("a") == std::optional<std::uint16_t>{1});
  CHECK(r.assign("b") == std::optional<std::uint16_t>{2});
  CHECK(r.assign("a") == std::optional<std::uint16_t>{1});
  CHECK(r.id_of("b") == std::optional<std::uint16_t>{2});
  CHECK_FALSE(r.id_of("c").has_value());
  REQUIRE(r.name_of(2) != nullptr);
  CHECK(*r.name_of(2) == "b");
  CHECK(r.name_of(3) == nullptr);
  CHECK(r.size() == 2);
}

TEST_CASE("registry: never 0x0000 or 0xFFFF, no small cap, exhaustion reported") {
  TopicRegistry r(nullptr);
  std::set<std::uint16_t> seen;
  for (unsigned i = 0; i < 0xFFFE; ++i) {
    const auto id = r.assign("t/" + std::to_string(i));
    REQUIRE(id.has_value());
    REQUIRE(*id != 0x0000);
    REQUIRE(*id != 0xFFFF);
    seen.insert(*id);
  }
  CHECK(seen.size() == 0xFFFE);
  CHECK_FALSE(r.assign("one/too/many").has_value());
  CHECK(r.assign("t/5") == std::optional<std::uint16_t>{6});  // existing names still resolve
  r.clear();
  CHECK(r.assign("again") == std::optional<std::uint16_t>{1});
}

TEST_CASE("registry: resolve normal, predefined and short topic fields") {
  TopicRegistry r(predefined());
  r.assign("n/1");
  CHECK(r.resolve(TopicIdType::Normal, 1) == std::optional<std::string>{"n/1"});
  CHECK_FALSE(r.resolve(TopicIdType::Normal, 2).has_value());
  CHECK(r.resolve(TopicIdType::Predefined, 1) == std::optional<std::string>{"pre/one"});
  CHECK_FALSE(r.resolve(TopicIdType::Predefined, 2).has_value());
  CHECK(r.resolve(TopicIdType::Short, 0x6162) == std::optional<std::string>{"ab"});
  // Without configuration there are no predefined topics.
  TopicRegistry none(nullptr);
  CHECK_FALSE(none.resolve(TopicIdType::Predefined, 1).has_value());
  CHECK_FALSE(none.predefined_id("pre/one").has_value());
}

TEST_CASE("registry: naming a topic towards the client: predefined, then short, then normal") {
  TopicRegistry r(predefined());
  // Two ids for one name: the lowest, whatever the hash order.
  CHECK(r.for_client("pre/one") == std::optional<ClientTopic>{{TopicIdType::Predefined, 1, false}});
  CHECK(r.for_client("xy") == std::optional<ClientTopic>{{TopicIdType::Short, 0x7879, false}});
  // Not known to the client yet: needs REGISTER; known after set_known_by_client.
  CHECK(r.for_client("n/1") == std::optional<ClientTopic>{{TopicIdType::Normal, 1, true}});
  r.set_known_by_client(1, true);
  CHECK(r.for_client("n/1") == std::optional<ClientTopic>{{TopicIdType::Normal, 1, false}});
  r.forget_client_knowledge();  // CleanSession=false reconnect
  CHECK(r.for_client("n/1") == std::optional<ClientTopic>{{TopicIdType::Normal, 1, true}});
  // Three characters is not a short name.
  CHECK(r.for_client("xyz") == std::optional<ClientTopic>{{TopicIdType::Normal, 2, true}});
}

TEST_CASE("registry: rejected names are remembered until cleared") {
  TopicRegistry r(nullptr);
  r.reject("a/b");
  CHECK(r.rejected("a/b"));
  CHECK_FALSE(r.rejected("a/c"));
  r.clear_rejections();
  CHECK_FALSE(r.rejected("a/b"));
}

TEST_CASE("outbox: in order; when full the oldest QoS 0 goes first, else the oldest") {
  Outbox o(3);
  auto m = [](std::string name, int qos) {
    return Outgoing{std::move(name), {}, qos, false, 0, false};
  };
  CHECK_FALSE(o.push_back(m("a", 1)).has_value());
  CHECK_FALSE(o.push_back(m("b", 0)).has_value());
  CHECK_FALSE(o.push_back(m("c", 0)).has_value());
  auto d = o.push_back(m("d", 2));
  REQUIRE(d.has_value());
  CHECK(d->topic == "b");
  d = o.push_back(m("e", 1));
  REQUIRE(d.has_value());
  CHECK(d->topic == "c");
  d = o.push_back(m("f", 0));  // no QoS 0 left before it: the newcomer itself is QoS 0
  REQUIRE(d.has_value());
  CHECK(d->topic == "f");
  d = o.push_back(m("g", 1));
  REQUIRE(d.has_value());
  CHECK(d->topic == "a");
  CHECK(o.dropped() == 4);
  CHECK(o.size() == 3);
  CHECK(o.pop_front().topic == "d");
  o.push_front(m("back", 1));  // a message in flight put back never drops anything
  CHECK(o.size() == 3);
  CHECK(o.front().topic == "back");
  CHECK(o.erase_topic("e") == 1);
  CHECK(o.pop_front().topic == "back");
  CHECK(o.pop_front().topic == "g");
  CHECK(o.empty());
}
