#include "transports/ble/ble_transport.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "transports/ble/ble_impl.hpp"

namespace transport::ble::detail {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool under(const std::string& path, const std::string& parent) {
  return !parent.empty() && path.size() > parent.size() &&
         path.compare(0, parent.size(), parent) == 0 && path[parent.size()] == '/';
}

std::string why(const sdbus::Error* e) {
  return e ? e->getName() + ": " + e->getMessage() : std::string("ok");
}

}  // namespace transport::ble::detail

namespace transport {

using namespace std::chrono_literals;
using namespace ble::detail;
namespace bluez = ble::bluez;

BleTransport::Impl::Impl(uv_loop_t* l, BleConfig c, ReceiveFn rx, FatalFn fatal_fn)
    : loop(l),
      cfg(std::move(c)),
      on_receive(std::move(rx)),
      on_fatal(std::move(fatal_fn)),
      links(ble::LinkPolicy{cfg.max_connections, cfg.idle_disconnect}) {}

void BleTransport::Impl::connect_bus() {
  for (const auto& a : cfg.allow) {
    auto n = ble::normalize_address(a);
    if (!n) throw std::runtime_error("BLE: bad address in [ble] allow: \"" + a + "\"");
    allowed.insert(*n);
  }
  for (const auto& [a, key] : cfg.passkeys) {
    auto n = ble::normalize_address(a);
    if (!n) throw std::runtime_error("BLE: bad address in [ble] passkeys: \"" + a + "\"");
    if (key > 999999)
      throw std::runtime_error("BLE: passkey for " + *n + " has more than 6 digits");
    passkeys[*n] = key;
  }
  cfg.service_uuid = lower(cfg.service_uuid);
  cfg.rx_uuid = lower(cfg.rx_uuid);
  cfg.tx_uuid = lower(cfg.tx_uuid);
  try {
    conn = sdbus::createSystemBusConnection();
    agent = std::make_unique<ble::Agent>(
        *conn, [this](const std::string& p) { return allowed_address_of(p); },
        [this](const std::string& a) -> std::optional<std::uint32_t> {
          const auto it = passkeys.find(a);
          if (it == passkeys.end()) return std::nullopt;
          return it->second;
        });
    // Start-up only: these AddMatch calls are synchronous.
    matches.push_back(
        conn->addMatch("type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop."
                       "DBus',member='NameOwnerChanged',"
                       "arg0='org.bluez'",
                       [this](sdbus::Message& m) {
                         guarded("NameOwnerChanged", [&] { on_name_owner_changed(m); });
                       }));
    matches.push_back(conn->addMatch(
        "type='signal',sender='org.bluez',interface='org.freedesktop.DBus.ObjectManager'",
        [this](sdbus::Message& m) {
          guarded("ObjectManager signal", [&] { on_object_manager(m); });
        }));
    matches.push_back(
        conn->addMatch("type='signal',sender='org.bluez',interface='org.freedesktop.DBus."
                       "Properties',member='PropertiesChanged'",
                       [this](sdbus::Message& m) {
                         guarded("PropertiesChanged", [&] { on_properties_changed(m); });
                       }));
  } catch (const sdbus::Error& e) {
    throw std::runtime_error("BLE: cannot use the system D-Bus: " + e.getName() + ": " +
                             e.getMessage());
  }
  bus = std::make_unique<ble::BusLoop>(loop, *conn,
                                       [this](const std::string& text) { on_bus_lost(text); });
  bus->set_before_poll([this] { graveyard.clear(); });
}

void BleTransport::Impl::start() {
  if (started) return;
  started = true;
  uv_timer_init(loop, &tick);
  tick.data = this;
  tick_open = true;
  const auto period = static_cast<std::uint64_t>(kTick.count());
  uv_timer_start(
      &tick, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->on_tick(); }, period, period);
  if (!bus->start()) return;
  init_bluez();
}

void BleTransport::Impl::stop(std::function<void()> on_closed) {
  stopping = true;
  for (auto& [path, d] : devices) bury_link(d);  // closes the acquired sockets' handles
  auto remaining = std::make_shared<int>(tick_open ? 2 : 1);
  auto done = [remaining, cb = std::move(on_closed)] {
    if (--*remaining == 0 && cb) cb();
  };
  if (tick_open) {
    tick_closed = done;
    uv_close(reinterpret_cast<uv_handle_t*>(&tick), [](uv_handle_t* h) {
      auto* self = static_cast<Impl*>(h->data);
      self->tick_open = false;
      auto fn = std::move(self->tick_closed);
      if (fn) fn();
    });
  }
  bus->close(done);
}

void BleTransport::Impl::on_bus_lost(const std::string& text) {
  if (fatal) return;
  fatal = true;
  spdlog::critical("BLE: {}", text);
  if (on_fatal) on_fatal(text);
}

// ---------------------------------------------------------------- bluetoothd lifecycle

void BleTransport::Impl::init_bluez() {
  const auto epoch = bluez_epoch;
  root = sdbus::createProxy(*conn, bluez::kService, "/");
  agent_manager = sdbus::createProxy(*conn, bluez::kService, "/org/bluez");
  const std::string capability = passkeys.empty() ? "NoInputNoOutput" : "KeyboardDisplay";
  agent_manager->callMethodAsync("RegisterAgent")
      .onInterface(bluez::kAgentManager)
      .withArguments(sdbus::ObjectPath(ble::Agent::kPath), capability)
      .uponReplyInvoke([this, epoch, capability](const sdbus::Error* e) {
        guarded("RegisterAgent", [&] {
          if (epoch != bluez_epoch) return;
          if (e && !bluez::error_is(e, "AlreadyExists")) {
            spdlog::warn("BLE: RegisterAgent failed: {}", why(e));
            return;
          }
          spdlog::info("BLE: pairing agent registered ({})", capability);
          agent_manager->callMethodAsync("RequestDefaultAgent")
              .onInterface(bluez::kAgentManager)
              .withArguments(sdbus::ObjectPath(ble::Agent::kPath))
              .uponReplyInvoke([](const sdbus::Error* e2) {
                if (e2) spdlog::warn("BLE: RequestDefaultAgent failed: {}", why(e2));
              });
        });
      });
  root->callMethodAsync("GetManagedObjects")
      .onInterface(bluez::kObjectManager)
      .uponReplyInvoke([this, epoch](const sdbus::Error* e, bluez::ManagedObjects objects) {
        guarded("GetManagedObjects", [&] {
          if (epoch != bluez_epoch) return;
          if (e) {
            spdlog::warn("BLE: bluetoothd not available ({}); waiting for it", why(e));
            return;
          }
          for (const auto& [path, ifaces] : objects) interfaces_added(path, ifaces);
          choose_adapters();
        });
      });
}

// Everything bluetoothd told us is void: its objects vanish without InterfacesRemoved.
void BleTransport::Impl::forget_bluez() {
  ++bluez_epoch;
  std::vector<std::string> paths;
  for (const auto& [path, a] : adapters) paths.push_back(path);
  for (const auto& path : paths) adapter_lost(path);
  single_adapter.clear();
  for (auto& [path, d] : devices) bury_device(d);
  devices.clear();
  services.clear();
  chars.clear();
  bury(root);
  bury(agent_manager);
}

void BleTransport::Impl::on_name_owner_changed(sdbus::Message& m) {
  std::string name, old_owner, new_owner;
  m >> name >> old_owner >> new_owner;
  if (name != bluez::kService) return;
  if (!old_owner.empty()) {
    spdlog::warn("BLE: bluetoothd left the bus; waiting for it to come back");
    forget_bluez();
  }
  if (!new_owner.empty()) {
    spdlog::info("BLE: bluetoothd is on the bus ({}); setting up again", new_owner);
    forget_bluez();
    init_bluez();
  }
}

void BleTransport::Impl::on_tick() {
  guarded("tick", [&] {
    if (stopping || fatal) return;
    const auto now = Clock::now();
    for (auto& [path, a] : adapters) {
      if (a.in_use && a.proxy && !a.ready && !a.powering && now >= a.power_retry_at) power_on(path);
    }
    run_links();
  });
}

std::unique_ptr<BleTransport> BleTransport::create(uv_loop_t* loop, BleConfig cfg,
                                                   ReceiveFn on_receive, FatalFn on_fatal) {
  auto impl =
      std::make_unique<Impl>(loop, std::move(cfg), std::move(on_receive), std::move(on_fatal));
  impl->connect_bus();
  return std::make_unique<BleTransport>(Private{}, std::move(impl));
}

BleTransport::BleTransport(Private, std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BleTransport::~BleTransport() = default;

void BleTransport::start() {
  impl_->start();
}
void BleTransport::stop(std::function<void()> on_closed) {
  impl_->stop(std::move(on_closed));
}
void BleTransport::send(const PeerAddress& to, std::span<const std::uint8_t> bytes) {
  guarded("send", [&] { impl_->send(to, bytes); });
}
void BleTransport::set_peer_idle(const PeerAddress& peer, bool idle) {
  guarded("set_peer_idle", [&] { impl_->set_peer_idle(peer, idle); });
}
std::string BleTransport::set_allow(const std::vector<std::string>& allow) {
  std::string error;
  guarded("set_allow", [&] { error = impl_->set_allow(allow); });
  return error;
}
std::vector<BleTransport::DeviceInfo> BleTransport::devices() const {
  return impl_->device_list();
}
std::vector<BleTransport::AdapterInfo> BleTransport::adapters() const {
  return impl_->adapter_list();
}

}  // namespace transport
