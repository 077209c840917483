#include "transports/ble/ble_transport.hpp"

#include <spdlog/spdlog.h>

#include <sdbus-c++/sdbus-c++.h>
#include <algorithm>
#include <cctype>
#include <deque>
#include <exception>
#include <iterator>
#include <set>
#include <stdexcept>
#include <string_view>

#include "transports/ble/agent.hpp"
#include "transports/ble/ble_address.hpp"
#include "transports/ble/bluez.hpp"
#include "transports/ble/bus_loop.hpp"
#include "transports/ble/framing.hpp"
#include "transports/log/limited_log.hpp"

namespace transport {

namespace {

using namespace std::chrono_literals;
using ble::Octets;
using ble::Reassembler;
namespace bluez = ble::bluez;
using Clock = std::chrono::steady_clock;

constexpr unsigned kDefaultMtu = 23;  // ATT default; BlueZ negotiates more
constexpr std::size_t kMaxQueuedBytes = 16 * 1024;
constexpr auto kFirstBackoff = 1s;
constexpr auto kMaxBackoff = 30s;
constexpr auto kAdapterRetry = 3s;
constexpr auto kTick = 250ms;

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

// Runs a callback at an sdbus boundary: sdbus-c++ 1.2.0 does not catch around match callbacks.
template <typename F>
void guarded(const char* where, F&& f) noexcept {
  try {
    f();
  } catch (const std::exception& e) {
    spdlog::error("BLE: unexpected error in {}: {}", where, e.what());
  } catch (...) {
    spdlog::error("BLE: unexpected error in {}", where);
  }
}

}  // namespace

struct BleTransport::Impl {
  enum class State { Idle, Pairing, Connecting, Resolving, Subscribing, Ready, Backoff };

  struct Chunk {
    std::vector<std::uint8_t> bytes;
    std::uint64_t message = 0;  // chunks of one message share this id
  };

  struct Device {
    std::string path, address, name;
    Octets octets{};
    int rssi = 0;
    bool paired = false, bonded = false, trusted = false, connected = false, resolved = false;
    State state = State::Idle;
    std::uint64_t epoch = 0;  // bumped whenever pending replies become meaningless
    std::unique_ptr<sdbus::IProxy> proxy;
    std::string rx_path, tx_path;
    std::unique_ptr<sdbus::IProxy> rx, tx;
    std::deque<Chunk> queue;
    std::size_t queued_bytes = 0;
    bool writing = false;
    std::uint64_t next_message = 0;
    Reassembler reassembler;
    std::uint64_t errors = 0;
    Clock::duration backoff = kFirstBackoff;
    Clock::time_point retry_at{};
    bool wake_on_advert =
        false;  // a sleeping sensor that dropped the link: reconnect when it advertises
    bool ignored_logged = false;
    bool revoked = false;  // taken off the allow-list while we had it: keep it disconnected

    Device(std::size_t max_message, std::chrono::milliseconds timeout)
        : reassembler(max_message, timeout) {}
  };

  struct Characteristic {
    std::string uuid, service;
    unsigned mtu = kDefaultMtu;
  };

  Impl(uv_loop_t* l, BleConfig c, ReceiveFn rx, FatalFn fatal_fn)
      : loop(l), cfg(std::move(c)), on_receive(std::move(rx)), on_fatal(std::move(fatal_fn)) {}

  uv_loop_t* loop;
  BleConfig cfg;
  ReceiveFn on_receive;
  FatalFn on_fatal;
  std::set<std::string> allowed;                  // normalized addresses
  std::map<std::string, std::uint32_t> passkeys;  // normalized addresses

  std::unique_ptr<sdbus::IConnection> conn;
  std::unique_ptr<ble::BusLoop> bus;
  std::unique_ptr<ble::Agent> agent;
  std::vector<sdbus::Slot> matches;
  uv_timer_t tick{};
  bool tick_open = false;
  std::function<void()> tick_closed;
  bool started = false, stopping = false, fatal = false;

  // What we know of bluetoothd's objects; all of it is forgotten when its owner changes.
  std::uint64_t bluez_epoch = 0;
  std::unique_ptr<sdbus::IProxy> root, agent_manager;
  std::map<std::string, bool> adapters;  // path -> Powered
  std::string adapter_path;
  std::unique_ptr<sdbus::IProxy> adapter;
  bool adapter_ready = false;  // powered and discovery requested
  bool powering = false;
  Clock::time_point power_retry_at{};
  bool blocked_logged = false, no_adapter_logged = false;
  std::map<std::string, Device> devices;        // by object path
  std::map<std::string, std::string> services;  // path -> UUID
  std::map<std::string, Characteristic> chars;

  // Proxies may not be destroyed inside their own callbacks: they wait here until the loop's
  // prepare.
  std::vector<std::unique_ptr<sdbus::IProxy>> graveyard;

  // ---------------------------------------------------------------- setup

  void connect_bus() {
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

  void start() {
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

  void stop(std::function<void()> on_closed) {
    stopping = true;
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

  void on_bus_lost(const std::string& text) {
    if (fatal) return;
    fatal = true;
    spdlog::critical("BLE: {}", text);
    if (on_fatal) on_fatal(text);
  }

  // ---------------------------------------------------------------- bluetoothd lifecycle

  void init_bluez() {
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
            choose_adapter();
          });
        });
  }

  // Everything bluetoothd told us is void: its objects vanish without InterfacesRemoved.
  void forget_bluez() {
    ++bluez_epoch;
    adapter_lost();
    adapters.clear();
    for (auto& [path, d] : devices) bury_device(d);
    devices.clear();
    services.clear();
    chars.clear();
    bury(root);
    bury(agent_manager);
  }

  void on_name_owner_changed(sdbus::Message& m) {
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

  // ---------------------------------------------------------------- object tracking

  void on_object_manager(sdbus::Message& m) {
    sdbus::ObjectPath path;
    if (m.getMemberName() == "InterfacesAdded") {
      bluez::Interfaces ifaces;
      m >> path >> ifaces;
      interfaces_added(path, ifaces);
      if (ifaces.count(bluez::kAdapter)) choose_adapter();
    } else if (m.getMemberName() == "InterfacesRemoved") {
      std::vector<std::string> names;
      m >> path >> names;
      for (const auto& n : names) interface_removed(path, n);
    }
  }

  void interfaces_added(const std::string& path, const bluez::Interfaces& ifaces) {
    if (const auto it = ifaces.find(bluez::kAdapter); it != ifaces.end()) {
      adapters[path] = bluez::get<bool>(it->second, "Powered").value_or(false);
    }
    if (const auto it = ifaces.find(bluez::kGattService); it != ifaces.end()) {
      services[path] = lower(bluez::get<std::string>(it->second, "UUID").value_or(""));
    }
    if (const auto it = ifaces.find(bluez::kGattChar); it != ifaces.end()) {
      Characteristic c;
      c.uuid = lower(bluez::get<std::string>(it->second, "UUID").value_or(""));
      c.service =
          bluez::get<sdbus::ObjectPath>(it->second, "Service").value_or(sdbus::ObjectPath{});
      c.mtu = bluez::get<std::uint16_t>(it->second, "MTU").value_or(kDefaultMtu);
      chars[path] = c;
    }
    if (const auto it = ifaces.find(bluez::kDevice); it != ifaces.end())
      device_added(path, it->second);
  }

  void interface_removed(const std::string& path, const std::string& iface) {
    if (iface == bluez::kAdapter) {
      adapters.erase(path);
      if (path == adapter_path) {
        spdlog::warn("BLE: adapter {} removed", path);
        adapter_lost();
        choose_adapter();
      }
    } else if (iface == bluez::kDevice) {
      const auto it = devices.find(path);
      if (it == devices.end()) return;
      spdlog::info("BLE: {} removed by BlueZ", it->second.address);
      bury_device(it->second);
      devices.erase(it);
    } else if (iface == bluez::kGattService) {
      services.erase(path);
    } else if (iface == bluez::kGattChar) {
      chars.erase(path);
      for (auto& [p, d] : devices) {
        if (d.rx_path == path || d.tx_path == path) link_down(d, "GATT characteristic removed");
      }
    }
  }

  void on_properties_changed(sdbus::Message& m) {
    std::string iface;
    bluez::Props changed;
    m >> iface >> changed;
    const std::string path = m.getPath();
    if (iface == bluez::kAdapter) {
      adapter_changed(path, changed);
    } else if (iface == bluez::kDevice) {
      if (const auto it = devices.find(path); it != devices.end())
        device_changed(it->second, changed);
    } else if (iface == bluez::kGattChar) {
      const auto it = chars.find(path);
      if (it == chars.end()) return;
      if (auto mtu = bluez::get<std::uint16_t>(changed, "MTU")) it->second.mtu = *mtu;
      if (auto value = bluez::get<std::vector<std::uint8_t>>(changed, "Value"))
        notification(path, *value);
    }
  }

  // ---------------------------------------------------------------- adapter

  void choose_adapter() {
    if (!adapter_path.empty() || stopping) return;
    for (const auto& [path, powered] : adapters) {
      if (!cfg.adapter.empty() && path != "/org/bluez/" + cfg.adapter) continue;
      adapter_path = path;
      no_adapter_logged = false;
      adapter = sdbus::createProxy(*conn, bluez::kService, adapter_path);
      spdlog::info("BLE: using adapter {}", adapter_path);
      if (powered) {
        adapter_up();
      } else {
        power_on();
      }
      return;
    }
    if (!no_adapter_logged) {
      spdlog::warn("BLE: no adapter {}yet; waiting for one to appear",
                   cfg.adapter.empty() ? "" : cfg.adapter + " ");
      no_adapter_logged = true;
    }
  }

  void adapter_lost() {
    adapter_down();
    adapter_path.clear();
    bury(adapter);
  }

  void adapter_changed(const std::string& path, const bluez::Props& changed) {
    auto powered = bluez::get<bool>(changed, "Powered");
    if (powered) adapters[path] = *powered;
    if (path != adapter_path) return;
    if (powered && *powered) {
      blocked_logged = false;
      adapter_up();
    } else if (powered && !*powered) {
      spdlog::warn("BLE: adapter {} powered off", adapter_path);
      adapter_down();
      power_retry_at = Clock::now() + kAdapterRetry;
    }
    if (auto discovering = bluez::get<bool>(changed, "Discovering");
        discovering && !*discovering && adapter_ready) {
      start_discovery();  // someone stopped it (or the adapter reset): we still want advertisements
    }
  }

  void power_on() {
    if (!adapter || powering) return;
    powering = true;
    const auto epoch = bluez_epoch;
    adapter->callMethodAsync("Set")
        .onInterface(bluez::kProperties)
        .withArguments(std::string(bluez::kAdapter), std::string("Powered"), sdbus::Variant(true))
        .uponReplyInvoke([this, epoch](const sdbus::Error* e) {
          guarded("Set Powered", [&] {
            if (epoch != bluez_epoch) return;
            powering = false;
            if (!e) {
              spdlog::info("BLE: adapter {} powering on", adapter_path);
              return;  // PropertiesChanged(Powered=true) follows
            }
            if (bluez::error_is(e, "Blocked")) {
              if (!blocked_logged)
                spdlog::error("BLE: adapter {} is blocked by rfkill (rfkill unblock bluetooth)",
                              adapter_path);
              blocked_logged = true;
            } else {
              spdlog::warn("BLE: cannot power on {}: {}", adapter_path, why(e));
            }
            power_retry_at = Clock::now() + kAdapterRetry;
          });
        });
  }

  void adapter_up() {
    if (adapter_ready) return;
    adapter_ready = true;
    adapters[adapter_path] = true;
    start_discovery();
    for (auto& [path, d] : devices) consider(d);
  }

  void adapter_down() {
    adapter_ready = false;
    for (auto& [path, d] : devices) {
      link_down(d, "adapter down");
      d.connected = false;
      d.resolved = false;
      d.state = State::Idle;
      ++d.epoch;
    }
  }

  void start_discovery() {
    if (!adapter) return;
    const auto epoch = bluez_epoch;
    std::map<std::string, sdbus::Variant> filter;
    filter["Transport"] = sdbus::Variant(std::string("le"));
    filter["UUIDs"] = sdbus::Variant(std::vector<std::string>{cfg.service_uuid});
    if (cfg.rssi_min) filter["RSSI"] = sdbus::Variant(*cfg.rssi_min);
    adapter->callMethodAsync("SetDiscoveryFilter")
        .onInterface(bluez::kAdapter)
        .withArguments(filter)
        .uponReplyInvoke([this, epoch](const sdbus::Error* e) {
          guarded("SetDiscoveryFilter", [&] {
            if (epoch != bluez_epoch || !adapter_ready) return;
            if (e) spdlog::warn("BLE: SetDiscoveryFilter failed: {}", why(e));
            adapter->callMethodAsync("StartDiscovery")
                .onInterface(bluez::kAdapter)
                .uponReplyInvoke([this, epoch](const sdbus::Error* e2) {
                  guarded("StartDiscovery", [&] {
                    if (epoch != bluez_epoch) return;
                    if (e2 && !bluez::error_is(e2, "InProgress")) {
                      spdlog::warn("BLE: StartDiscovery failed: {}", why(e2));
                    } else {
                      spdlog::info("BLE: discovering sensors with service {}", cfg.service_uuid);
                    }
                  });
                });
          });
        });
  }

  // ---------------------------------------------------------------- devices

  std::optional<std::string> allowed_address_of(const std::string& path) const {
    std::optional<std::string> addr;
    if (const auto it = devices.find(path); it != devices.end()) {
      addr = it->second.address;
    } else if (const auto pos = path.rfind("/dev_"); pos != std::string::npos) {
      std::string s = path.substr(pos + 5);
      std::replace(s.begin(), s.end(), '_', ':');
      addr = ble::normalize_address(s);
    }
    if (!addr || !allowed.count(*addr)) return std::nullopt;
    return addr;
  }

  void device_added(const std::string& path, const bluez::Props& props) {
    auto addr = ble::parse_address(bluez::get<std::string>(props, "Address").value_or(""));
    if (!addr) return;
    auto [it, inserted] = devices.try_emplace(path, cfg.max_message, cfg.reassembly_timeout);
    Device& d = it->second;
    if (inserted) {
      d.path = path;
      d.octets = *addr;
      d.address = ble::format_address(*addr);
    }
    device_changed(d, props);
    consider(d);
  }

  void device_changed(Device& d, const bluez::Props& p) {
    if (auto v = bluez::get<std::string>(p, "Alias")) d.name = *v;
    if (auto v = bluez::get<std::string>(p, "Name")) d.name = *v;
    if (auto v = bluez::get<bool>(p, "Paired")) d.paired = *v;
    if (auto v = bluez::get<bool>(p, "Bonded")) d.bonded = *v;
    if (auto v = bluez::get<bool>(p, "Trusted")) d.trusted = *v;
    const auto rssi = bluez::get<std::int16_t>(p, "RSSI");
    if (rssi) d.rssi = *rssi;
    if (auto v = bluez::get<bool>(p, "Connected")) {
      d.connected = *v;
      if (!*v) {
        d.resolved = false;
        link_lost(d);
      } else if (d.revoked && !allowed.count(d.address)) {
        disconnect(d);  // a Pair or Connect still in flight when it was revoked
      }
    }
    if (auto v = bluez::get<bool>(p, "ServicesResolved")) {
      d.resolved = *v;
      if (*v && d.state == State::Resolving) setup_gatt(d);
    }
    // An advertisement from a sensor that went to sleep: it is back.
    if (rssi && d.state == State::Backoff && d.wake_on_advert) {
      d.retry_at = Clock::now();
    }
  }

  bool on_our_adapter(const Device& d) const { return under(d.path, adapter_path); }

  // Moves a device one step towards Ready when nothing is pending for it.
  void consider(Device& d) {
    if (!adapter_ready || stopping || fatal || !on_our_adapter(d)) return;
    if (!allowed.count(d.address)) {
      if (!d.ignored_logged)
        util::log_limited("BLE not allowed", spdlog::level::info,
                          "BLE: ignoring {} ({}): not in [ble] allow", d.address, d.name);
      d.ignored_logged = true;
      return;
    }
    if (d.state != State::Idle) return;
    if (!d.proxy) d.proxy = sdbus::createProxy(*conn, bluez::kService, d.path);
    if (!d.paired) {
      pair(d);
    } else if (!d.trusted) {
      trust(d);
      connect(d);
    } else {
      connect(d);
    }
  }

  template <typename F>
  auto for_device(const std::string& path, std::uint64_t epoch, F&& f) {
    return [this, path, epoch, f = std::forward<F>(f)](const sdbus::Error* e) {
      guarded("device call", [&] {
        const auto it = devices.find(path);
        if (it == devices.end() || it->second.epoch != epoch) return;
        f(it->second, e);
      });
    };
  }

  void pair(Device& d) {
    d.state = State::Pairing;
    spdlog::info("BLE: pairing {} ({})", d.address, d.name);
    d.proxy->callMethodAsync("Pair")
        .onInterface(bluez::kDevice)
        .withTimeout(60s)
        .uponReplyInvoke(for_device(d.path, d.epoch, [this](Device& dev, const sdbus::Error* e) {
          if (e && !bluez::error_is(e, "AlreadyExists")) return failed(dev, "Pair", e);
          dev.paired = true;
          spdlog::info("BLE: paired {}", dev.address);
          trust(dev);
          dev.state = State::Idle;
          connect(dev);
        }));
  }

  void trust(Device& d) {
    if (d.trusted) return;
    d.proxy->callMethodAsync("Set")
        .onInterface(bluez::kProperties)
        .withArguments(std::string(bluez::kDevice), std::string("Trusted"), sdbus::Variant(true))
        .uponReplyInvoke(for_device(d.path, d.epoch, [](Device& dev, const sdbus::Error* e) {
          if (e) {
            ++dev.errors;
            spdlog::warn("BLE: cannot mark {} trusted: {}", dev.address, why(e));
          }
        }));
  }

  void connect(Device& d) {
    if (d.connected) {
      after_connect(d);
      return;
    }
    d.state = State::Connecting;
    spdlog::info("BLE: connecting {}", d.address);
    d.proxy->callMethodAsync("Connect")
        .onInterface(bluez::kDevice)
        .withTimeout(30s)
        .uponReplyInvoke(for_device(d.path, d.epoch, [this](Device& dev, const sdbus::Error* e) {
          if (e && !bluez::error_is(e, "AlreadyConnected")) return failed(dev, "Connect", e);
          dev.connected = true;
          after_connect(dev);
        }));
  }

  // Connect returns before the GATT database is known: wait for ServicesResolved.
  void after_connect(Device& d) {
    d.state = State::Resolving;
    if (d.resolved) setup_gatt(d);
  }

  void setup_gatt(Device& d) {
    d.rx_path.clear();
    d.tx_path.clear();
    for (const auto& [path, c] : chars) {
      if (!under(path, d.path)) continue;
      const auto svc = services.find(c.service);
      if (svc != services.end() && svc->second != cfg.service_uuid) continue;
      if (c.uuid == cfg.rx_uuid) d.rx_path = path;
      if (c.uuid == cfg.tx_uuid) d.tx_path = path;
    }
    if (d.rx_path.empty() || d.tx_path.empty()) {
      return failed(d, "GATT lookup", nullptr);
    }
    d.rx = sdbus::createProxy(*conn, bluez::kService, d.rx_path);
    d.tx = sdbus::createProxy(*conn, bluez::kService, d.tx_path);
    d.state = State::Subscribing;
    d.tx->callMethodAsync("StartNotify")
        .onInterface(bluez::kGattChar)
        .uponReplyInvoke(for_device(d.path, d.epoch, [this](Device& dev, const sdbus::Error* e) {
          if (e && !bluez::error_is(e, "InProgress")) return failed(dev, "StartNotify", e);
          dev.state = State::Ready;
          dev.backoff = kFirstBackoff;
          dev.wake_on_advert = false;
          spdlog::info("BLE: {} ready (MTU {})", dev.address, mtu_of(dev));
        }));
  }

  void failed(Device& d, const char* step, const sdbus::Error* e) {
    ++d.errors;
    ++d.epoch;
    d.state = State::Backoff;
    d.retry_at = Clock::now() + d.backoff;
    util::log_limited("BLE link setup failed", spdlog::level::warn,
                      "BLE: {} failed for {}: {}; retrying in {} ms", step, d.address,
                      e ? why(e) : std::string("NUS service/characteristics not found"),
                      std::chrono::duration_cast<std::chrono::milliseconds>(d.backoff).count());
    d.backoff = std::min<Clock::duration>(d.backoff * 2, kMaxBackoff);
    // A sensor that could not be reached is probably asleep: try again when it advertises.
    if (std::string_view(step) == "Connect") d.wake_on_advert = true;
    bury_link(d);
  }

  // Connected went false.
  void link_lost(Device& d) {
    if (d.state == State::Pairing || d.state == State::Connecting) return;  // their reply will say
    link_down(d, "disconnected");
  }

  // Forgets link-level state: queued writes, partial messages, characteristic proxies. A link that
  // was up is retried after the back-off, or as soon as the (sleeping) sensor advertises again.
  void link_down(Device& d, const char* reason) {
    if (!d.queue.empty())
      spdlog::debug("BLE: {}: {} queued chunks dropped ({})", d.address, d.queue.size(), reason);
    d.queue.clear();
    d.queued_bytes = 0;
    d.writing = false;
    d.reassembler.reset();
    bury_link(d);
    if (d.state == State::Ready || d.state == State::Subscribing || d.state == State::Resolving) {
      ++d.epoch;
      d.state = State::Backoff;
      d.wake_on_advert = true;
      d.retry_at = Clock::now() + d.backoff;
      util::log_limited("BLE link down", spdlog::level::info,
                        "BLE: {} link down ({}); reconnecting", d.address, reason);
    }
  }

  // ---------------------------------------------------------------- allow-list (SIGHUP)

  std::string set_allow(const std::vector<std::string>& list) {
    std::set<std::string> fresh;
    for (const auto& a : list) {
      auto n = ble::normalize_address(a);
      if (!n) return "BLE: bad address in [ble] allow: \"" + a + "\"";
      fresh.insert(*n);
    }
    std::vector<std::string> added, removed;
    std::set_difference(fresh.begin(), fresh.end(), allowed.begin(), allowed.end(),
                        std::back_inserter(added));
    std::set_difference(allowed.begin(), allowed.end(), fresh.begin(), fresh.end(),
                        std::back_inserter(removed));
    allowed = std::move(fresh);
    cfg.allow = list;
    if (added.empty() && removed.empty()) return {};
    auto join = [](const std::vector<std::string>& v) {
      std::string out;
      for (const auto& a : v) out += (out.empty() ? "" : " ") + a;
      return out.empty() ? std::string("-") : out;
    };
    spdlog::info("BLE: allow-list changed: {} allowed now, added [{}], removed [{}]",
                 allowed.size(), join(added), join(removed));
    for (auto& [path, d] : devices) {
      if (std::binary_search(removed.begin(), removed.end(), d.address)) {
        revoke(d);
      } else if (std::binary_search(added.begin(), added.end(), d.address)) {
        d.revoked = false;
        d.ignored_logged = false;
        if (d.state == State::Idle) consider(d);  // already discovered: pair/connect it now
      }
    }
    return {};
  }

  // No longer allowed: drop the link and whatever is pending for it; consider() will not pair or
  // connect it again, and the agent refuses it.
  void revoke(Device& d) {
    const bool had_link = d.state != State::Idle || d.connected;
    ++d.epoch;  // replies to Pair/Connect/StartNotify still in flight are ignored
    d.queue.clear();
    d.queued_bytes = 0;
    d.writing = false;
    d.reassembler.reset();
    bury_link(d);
    d.state = State::Idle;
    d.wake_on_advert = false;
    d.backoff = kFirstBackoff;
    d.revoked = true;
    d.ignored_logged = true;
    spdlog::info("BLE: {} ({}) removed from [ble] allow{}", d.address, d.name,
                 had_link ? ": disconnecting" : "");
    if (d.connected) disconnect(d);
  }

  void disconnect(Device& d) {
    if (!d.proxy) d.proxy = sdbus::createProxy(*conn, bluez::kService, d.path);
    d.proxy->callMethodAsync("Disconnect")
        .onInterface(bluez::kDevice)
        .uponReplyInvoke(for_device(d.path, d.epoch, [](Device& dev, const sdbus::Error* e) {
          if (e && !bluez::error_is(e, "NotConnected"))
            spdlog::warn("BLE: cannot disconnect {}: {}", dev.address, why(e));
        }));
  }

  void bury_link(Device& d) {
    bury(d.rx);
    bury(d.tx);
    d.rx_path.clear();
    d.tx_path.clear();
  }

  void bury_device(Device& d) {
    bury_link(d);
    bury(d.proxy);
    ++d.epoch;
  }

  void bury(std::unique_ptr<sdbus::IProxy>& p) {
    if (p) graveyard.push_back(std::move(p));
  }

  void on_tick() {
    guarded("tick", [&] {
      if (stopping || fatal) return;
      const auto now = Clock::now();
      if (adapter && !adapter_ready && !powering && now >= power_retry_at) power_on();
      for (auto& [path, d] : devices) {
        if (d.state == State::Backoff && now >= d.retry_at) {
          d.state = State::Idle;
          consider(d);
        }
      }
    });
  }

  // ---------------------------------------------------------------- data

  unsigned mtu_of(const Device& d) const {
    const auto it = chars.find(d.rx_path);
    return it == chars.end() ? kDefaultMtu : std::max(it->second.mtu, kDefaultMtu);
  }

  void notification(const std::string& char_path, const std::vector<std::uint8_t>& value) {
    for (auto& [path, d] : devices) {
      // A sensor may notify as soon as it is subscribed, before the StartNotify reply reaches us.
      if (d.tx_path != char_path || (d.state != State::Ready && d.state != State::Subscribing))
        continue;
      const auto peer = ble::to_peer(d.octets);
      const auto dropped = d.reassembler.dropped();
      d.reassembler.feed(value, Clock::now(),
                         [&](std::span<const std::uint8_t> msg) { on_receive(peer, msg); });
      if (d.reassembler.dropped() != dropped) {
        ++d.errors;
        util::log_limited("BLE chunk dropped", spdlog::level::debug,
                          "BLE: {}: dropped a chunk that does not fit the MQTT-SN framing",
                          d.address);
      }
      return;
    }
  }

  void send(const PeerAddress& to, std::span<const std::uint8_t> bytes) {
    const auto octets = ble::from_peer(to);
    if (!octets || bytes.empty()) return;
    Device* dev = nullptr;
    for (auto& [path, d] : devices) {
      if (d.octets == *octets && on_our_adapter(d)) dev = &d;
    }
    if (dev == nullptr || dev->state != State::Ready) {
      if (dev) ++dev->errors;
      util::log_limited("BLE send dropped", spdlog::level::debug,
                        "BLE: {} not connected: {} bytes not sent", to_string(to), bytes.size());
      return;
    }
    if (dev->queued_bytes + bytes.size() > kMaxQueuedBytes) {
      ++dev->errors;
      util::log_limited("BLE send dropped", spdlog::level::warn,
                        "BLE: {} write queue full: {} bytes dropped", dev->address, bytes.size());
      return;
    }
    const auto id = dev->next_message++;
    for (auto& c : ble::fragment(bytes, mtu_of(*dev) - 3)) {
      dev->queued_bytes += c.size();
      dev->queue.push_back(Chunk{std::move(c), id});
    }
    pump(*dev);
  }

  // One WriteValue in flight per device: BlueZ answers InProgress to a second one.
  void pump(Device& d) {
    if (d.writing || d.queue.empty() || !d.rx) return;
    d.writing = true;
    std::map<std::string, sdbus::Variant> options;
    options["type"] = sdbus::Variant(std::string("command"));
    d.rx->callMethodAsync("WriteValue")
        .onInterface(bluez::kGattChar)
        .withArguments(d.queue.front().bytes, options)
        .uponReplyInvoke(for_device(d.path, d.epoch, [this](Device& dev, const sdbus::Error* e) {
          dev.writing = false;
          if (dev.queue.empty()) return;
          const auto id = dev.queue.front().message;
          dev.queued_bytes -= dev.queue.front().bytes.size();
          dev.queue.pop_front();
          if (e) {
            ++dev.errors;
            util::log_limited("BLE send dropped", spdlog::level::warn,
                              "BLE: write to {} failed: {}; message dropped", dev.address, why(e));
            while (!dev.queue.empty() && dev.queue.front().message == id) {
              dev.queued_bytes -= dev.queue.front().bytes.size();
              dev.queue.pop_front();
            }
          }
          pump(dev);
        }));
  }

  std::vector<DeviceInfo> device_list() const {
    std::vector<DeviceInfo> out;
    for (const auto& [path, d] : devices) {
      if (!adapter_path.empty() && !on_our_adapter(d)) continue;
      out.push_back(DeviceInfo{d.address, d.name, d.rssi, d.paired, d.bonded, d.trusted,
                               d.connected, d.state == State::Ready ? mtu_of(d) : 0U, d.errors});
    }
    return out;
  }
};

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
std::string BleTransport::set_allow(const std::vector<std::string>& allow) {
  std::string error;
  guarded("set_allow", [&] { error = impl_->set_allow(allow); });
  return error;
}
std::vector<BleTransport::DeviceInfo> BleTransport::devices() const {
  return impl_->device_list();
}

}  // namespace transport
