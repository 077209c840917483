// BleTransport's insides, shared by the files that carry them out: ble_transport.cpp (bus and
// bluetoothd lifecycle, public API), ble_objects.cpp (BlueZ objects and adapters), ble_links.cpp
// (carrying out the LinkManager's requests: pair, connect, GATT, disconnect; allow-list) and
// ble_data.cpp (writes and notifications). Which sensor holds a link is decided only by
// LinkManager (link_manager.hpp); this code only talks D-Bus.
#pragma once

#include <spdlog/spdlog.h>

#include <sdbus-c++/sdbus-c++.h>
#include <chrono>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "transports/ble/agent.hpp"
#include "transports/ble/ble_address.hpp"
#include "transports/ble/ble_transport.hpp"
#include "transports/ble/bluez.hpp"
#include "transports/ble/bus_loop.hpp"
#include "transports/ble/fd_poll.hpp"
#include "transports/ble/framing.hpp"
#include "transports/ble/link_manager.hpp"

namespace transport::ble::detail {

using Clock = std::chrono::steady_clock;
inline constexpr unsigned kDefaultMtu = 23;  // ATT default; BlueZ negotiates more
inline constexpr std::size_t kMaxQueuedBytes = 16 * 1024;
inline constexpr auto kAdapterRetry = std::chrono::seconds(3);
inline constexpr auto kTick = std::chrono::milliseconds(250);

std::string lower(std::string s);
bool under(const std::string& path, const std::string& parent);
std::string why(const sdbus::Error* e);

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

}  // namespace transport::ble::detail

namespace transport {

struct BleTransport::Impl {
  using Clock = ble::detail::Clock;
  // A link being set up or in use, as far as D-Bus goes; whether to have it is LinkManager's call.
  enum class State { Idle, Pairing, Connecting, Resolving, Subscribing, Ready };

  struct Chunk {
    std::vector<std::uint8_t> bytes;
    std::uint64_t message = 0;  // chunks of one message share this id
  };

  struct Device {
    std::string path, adapter, address, name;
    ble::Octets octets{};
    int rssi = 0;
    bool paired = false, bonded = false, trusted = false, connected = false, resolved = false;
    State state = State::Idle;
    bool releasing = false;   // we asked for Disconnect
    std::uint64_t epoch = 0;  // bumped whenever pending replies become meaningless
    std::unique_ptr<sdbus::IProxy> proxy;
    std::string rx_path, tx_path;
    std::unique_ptr<sdbus::IProxy> rx, tx;
    std::unique_ptr<ble::FdPoll> notify_fd, write_fd;  // AcquireNotify / AcquireWrite sockets
    std::deque<Chunk> queue;
    std::size_t queued_bytes = 0;
    bool writing = false;
    std::uint64_t next_message = 0;
    ble::Reassembler reassembler;
    std::uint64_t errors = 0;
    bool ignored_logged = false;
    bool revoked = false;  // taken off the allow-list while we had it: keep it disconnected

    Device(std::size_t max_message, std::chrono::milliseconds timeout)
        : reassembler(max_message, timeout) {}
  };

  struct Characteristic {
    std::string uuid, service;
    unsigned mtu = ble::detail::kDefaultMtu;
  };

  struct Adapter {
    bool powered = false;
    bool in_use = false;  // chosen by [ble] adapters / adapter
    bool ready = false;   // powered and discovery requested
    bool powering = false;
    bool blocked_logged = false;
    Clock::time_point power_retry_at{};
    std::unique_ptr<sdbus::IProxy> proxy;
  };

  Impl(uv_loop_t* l, BleConfig c, ReceiveFn rx, FatalFn fatal_fn);

  uv_loop_t* loop;
  BleConfig cfg;
  ReceiveFn on_receive;
  FatalFn on_fatal;
  std::set<std::string> allowed;                  // normalized addresses
  std::map<std::string, std::uint32_t> passkeys;  // normalized addresses
  ble::LinkManager links;

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
  std::map<std::string, Adapter> adapters;  // by object path
  std::string single_adapter;               // with [ble] adapters empty: the one adapter in use
  bool no_adapter_logged = false;
  std::map<std::string, Device> devices;        // by object path
  std::map<std::string, std::string> services;  // path -> UUID
  std::map<std::string, Characteristic> chars;

  // Proxies may not be destroyed inside their own callbacks: they wait here until the loop's
  // prepare.
  std::vector<std::unique_ptr<sdbus::IProxy>> graveyard;

  // ble_transport.cpp
  void connect_bus();
  void start();
  void stop(std::function<void()> on_closed);
  void on_bus_lost(const std::string& text);
  void init_bluez();
  void forget_bluez();
  void on_name_owner_changed(sdbus::Message& m);
  void on_tick();

  // ble_objects.cpp
  void on_object_manager(sdbus::Message& m);
  void interfaces_added(const std::string& path, const ble::bluez::Interfaces& ifaces);
  void interface_removed(const std::string& path, const std::string& iface);
  void on_properties_changed(sdbus::Message& m);
  bool wanted_adapter(const std::string& path) const;
  void choose_adapters();
  void adapter_lost(const std::string& path);
  void adapter_changed(const std::string& path, const ble::bluez::Props& changed);
  void power_on(const std::string& path);
  void adapter_up(const std::string& path);
  void adapter_down(const std::string& path);
  void start_discovery(const std::string& path);
  std::optional<std::string> allowed_address_of(const std::string& path) const;
  void device_added(const std::string& path, const ble::bluez::Props& props);
  void device_changed(Device& d, const ble::bluez::Props& p);

  // ble_links.cpp
  bool usable(const Device& d) const;
  void seen(Device& d);
  void run_links();
  Device* device_on(const std::string& address, const std::string& adapter);
  void link_up(Device& d);
  // A reply handler that runs only if the device still exists and nothing made the call moot.
  template <typename F>
  auto for_device(const std::string& path, std::uint64_t epoch, F&& f) {
    return [this, path, epoch, f = std::forward<F>(f)](const sdbus::Error* e) {
      ble::detail::guarded("device call", [&] {
        const auto it = devices.find(path);
        if (it == devices.end() || it->second.epoch != epoch) return;
        f(it->second, e);
      });
    };
  }
  void pair(Device& d);
  void trust(Device& d);
  void connect(Device& d);
  void after_connect(Device& d);
  void setup_gatt(Device& d);
  void start_notify(Device& d);
  void acquire_write(Device& d);
  void link_ready(Device& d);
  void failed(Device& d, const char* step, const sdbus::Error* e);
  void link_lost(Device& d);
  void link_down(Device& d, const char* reason);
  std::string set_allow(const std::vector<std::string>& list);
  void revoke(Device& d);
  void disconnect(Device& d);
  void bury_link(Device& d);
  void bury_device(Device& d);
  void bury(std::unique_ptr<sdbus::IProxy>& p);
  void set_peer_idle(const PeerAddress& peer, bool idle);

  // ble_data.cpp
  unsigned mtu_of(const Device& d) const;
  void notification(const std::string& char_path, const std::vector<std::uint8_t>& value);
  void deliver(Device& d, std::span<const std::uint8_t> chunk);
  void on_notify_fd(const std::string& path, int status, int events);
  void on_write_fd(const std::string& path, int status, int events);
  bool pump_fd(Device& d);
  void send(const PeerAddress& to, std::span<const std::uint8_t> bytes);
  void pump(Device& d);
  std::vector<DeviceInfo> device_list() const;
  std::vector<AdapterInfo> adapter_list() const;
};

}  // namespace transport
