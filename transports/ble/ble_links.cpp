// Carrying out LinkManager's requests over D-Bus (Pair, Trusted, Connect, ServicesResolved,
// StartNotify; Disconnect) and reporting back what happened; the allow-list (SIGHUP).
#include <algorithm>
#include <iterator>
#include <string_view>

#include "transports/ble/ble_impl.hpp"
#include "transports/log/limited_log.hpp"

namespace transport {

using namespace std::chrono_literals;
using namespace ble::detail;
namespace bluez = ble::bluez;

bool BleTransport::Impl::usable(const Device& d) const {
  if (stopping || fatal) return false;
  const auto it = adapters.find(d.adapter);
  return it != adapters.end() && it->second.in_use && it->second.ready;
}

// Tells LinkManager the device advertises on its adapter, if it may have a link at all.
void BleTransport::Impl::seen(Device& d) {
  if (!usable(d)) return;
  if (!allowed.count(d.address)) {
    if (!d.ignored_logged)
      util::log_limited("BLE not allowed", spdlog::level::info,
                        "BLE: ignoring {} ({}): not in [ble] allow", d.address, d.name);
    d.ignored_logged = true;
    return;
  }
  links.advert(d.address, d.adapter, d.rssi == 0 ? -127 : d.rssi, Clock::now());
}

BleTransport::Impl::Device* BleTransport::Impl::device_on(const std::string& address,
                                                          const std::string& adapter) {
  for (auto& [path, d] : devices) {
    if (d.address == address && d.adapter == adapter) return &d;
  }
  return nullptr;
}

void BleTransport::Impl::run_links() {
  if (stopping || fatal) return;
  for (const auto& r : links.poll(Clock::now())) {
    Device* d = device_on(r.sensor, r.adapter);
    if (r.op == ble::LinkRequest::Op::Disconnect) {
      if (d == nullptr || !d->connected) {
        links.link_lost(r.sensor, Clock::now());
        continue;
      }
      util::log_limited("BLE releasing", spdlog::level::info,
                        "BLE: releasing the link of asleep {} on {}", r.sensor, r.adapter);
      d->releasing = true;
      disconnect(*d);
      continue;
    }
    if (d == nullptr || !allowed.count(r.sensor) || d->state != State::Idle) {
      links.connect_failed(r.sensor, ble::ConnectError::Other, Clock::now());
      continue;
    }
    if (!d->proxy) d->proxy = sdbus::createProxy(*conn, bluez::kService, d->path);
    d->releasing = false;
    if (!d->paired) {
      pair(*d);
    } else {
      trust(*d);
      connect(*d);
    }
  }
}

void BleTransport::Impl::pair(Device& d) {
  d.state = State::Pairing;
  util::log_limited("BLE pairing", spdlog::level::info, "BLE: pairing {} ({}) on {}", d.address,
                    d.name, d.adapter);
  d.proxy->callMethodAsync("Pair")
      .onInterface(bluez::kDevice)
      .withTimeout(60s)
      .uponReplyInvoke(for_device(d.path, d.epoch, [this](Device& dev, const sdbus::Error* e) {
        if (e && !bluez::error_is(e, "AlreadyExists")) return failed(dev, "Pair", e);
        dev.paired = true;
        util::log_limited("BLE paired", spdlog::level::info, "BLE: paired {}", dev.address);
        trust(dev);
        dev.state = State::Idle;
        connect(dev);
      }));
}

void BleTransport::Impl::trust(Device& d) {
  if (d.trusted) return;
  d.proxy->callMethodAsync("Set")
      .onInterface(bluez::kProperties)
      .withArguments(std::string(bluez::kDevice), std::string("Trusted"), sdbus::Variant(true))
      .uponReplyInvoke(for_device(d.path, d.epoch, [](Device& dev, const sdbus::Error* e) {
        if (e) {
          ++dev.errors;
          util::log_limited("BLE trust failed", spdlog::level::warn,
                            "BLE: cannot mark {} trusted: {}", dev.address, why(e));
        }
      }));
}

void BleTransport::Impl::connect(Device& d) {
  if (d.connected) {
    after_connect(d);
    return;
  }
  d.state = State::Connecting;
  util::log_limited("BLE connecting", spdlog::level::info, "BLE: connecting {} on {}", d.address,
                    d.adapter);
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
void BleTransport::Impl::after_connect(Device& d) {
  d.state = State::Resolving;
  if (d.resolved) setup_gatt(d);
}

void BleTransport::Impl::setup_gatt(Device& d) {
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
  if (!cfg.acquire) return start_notify(d);
  // A socket for notifications where BlueZ offers one; otherwise StartNotify.
  d.tx->callMethodAsync("AcquireNotify")
      .onInterface(bluez::kGattChar)
      .withArguments(std::map<std::string, sdbus::Variant>{})
      .uponReplyInvoke([this, path = d.path, epoch = d.epoch](const sdbus::Error* e,
                                                              sdbus::UnixFd fd, std::uint16_t) {
        guarded("AcquireNotify", [&] {
          const auto it = devices.find(path);
          if (it == devices.end() || it->second.epoch != epoch) return;
          Device& dev = it->second;
          if (!e) {
            dev.notify_fd = ble::FdPoll::open(loop, std::move(fd), [this, path](int st, int ev) {
              guarded("notify socket", [&] { on_notify_fd(path, st, ev); });
            });
          }
          if (!dev.notify_fd) {
            util::log_limited("BLE acquire", spdlog::level::debug,
                              "BLE: {}: AcquireNotify not available ({}): StartNotify", dev.address,
                              why(e));
            return start_notify(dev);
          }
          acquire_write(dev);
        });
      });
}

void BleTransport::Impl::start_notify(Device& d) {
  d.tx->callMethodAsync("StartNotify")
      .onInterface(bluez::kGattChar)
      .uponReplyInvoke(for_device(d.path, d.epoch, [this](Device& dev, const sdbus::Error* e) {
        if (e && !bluez::error_is(e, "InProgress")) return failed(dev, "StartNotify", e);
        acquire_write(dev);
      }));
}

// A socket for writes where BlueZ offers one; otherwise WriteValue.
void BleTransport::Impl::acquire_write(Device& d) {
  if (!cfg.acquire) return link_ready(d);
  d.rx->callMethodAsync("AcquireWrite")
      .onInterface(bluez::kGattChar)
      .withArguments(std::map<std::string, sdbus::Variant>{})
      .uponReplyInvoke([this, path = d.path, epoch = d.epoch](const sdbus::Error* e,
                                                              sdbus::UnixFd fd, std::uint16_t) {
        guarded("AcquireWrite", [&] {
          const auto it = devices.find(path);
          if (it == devices.end() || it->second.epoch != epoch) return;
          Device& dev = it->second;
          if (!e) {
            dev.write_fd = ble::FdPoll::open(loop, std::move(fd), [this, path](int st, int ev) {
              guarded("write socket", [&] { on_write_fd(path, st, ev); });
            });
          }
          if (!dev.write_fd)
            util::log_limited("BLE acquire", spdlog::level::debug,
                              "BLE: {}: AcquireWrite not available ({}): WriteValue", dev.address,
                              why(e));
          link_ready(dev);
        });
      });
}

void BleTransport::Impl::link_ready(Device& d) {
  d.state = State::Ready;
  links.linked(d.address, d.adapter, Clock::now());
  util::log_limited("BLE ready", spdlog::level::info, "BLE: {} ready on {} (MTU {}{})", d.address,
                    d.adapter, mtu_of(d), d.notify_fd || d.write_fd ? ", acquired sockets" : "");
  pump(d);
}

void BleTransport::Impl::failed(Device& d, const char* step, const sdbus::Error* e) {
  ++d.errors;
  ++d.epoch;
  // Error.Failed from Connect/Pair is what a controller with no free link gives
  // (le-connection-abort-by-local): back off longer.
  const bool refused = bluez::error_is(e, ".Failed") && std::string_view(step) != "StartNotify";
  links.connect_failed(d.address, refused ? ble::ConnectError::Refused : ble::ConnectError::Other,
                       Clock::now());
  const auto view = links.sensor(d.address);
  const auto wait =
      view && view->retry_at
          ? std::chrono::duration_cast<std::chrono::seconds>(*view->retry_at - Clock::now()).count()
          : 0;
  util::log_limited("BLE link setup failed", spdlog::level::warn,
                    "BLE: {} failed for {} on {}: {}; retrying in {} s at the earliest", step,
                    d.address, d.adapter,
                    e ? why(e) : std::string("NUS service/characteristics not found"), wait);
  d.state = State::Idle;
  bury_link(d);
  // A link half made (Connected, no GATT) would hold a slot on the controller.
  if (d.connected) disconnect(d);
}

// Connected went false.
void BleTransport::Impl::link_lost(Device& d) {
  if (d.state == State::Pairing || d.state == State::Connecting) return;  // their reply will say
  link_down(d, d.releasing ? "released" : "disconnected");
}

// Forgets link-level state: queued writes, partial messages, characteristic proxies. The sensor
// gets a link again when it advertises (LinkManager decides when).
void BleTransport::Impl::link_down(Device& d, const char* reason) {
  if (!d.queue.empty())
    util::log_limited("BLE queue dropped", spdlog::level::debug,
                      "BLE: {}: {} queued chunks dropped ({})", d.address, d.queue.size(), reason);
  d.queue.clear();
  d.queued_bytes = 0;
  d.writing = false;
  d.reassembler.reset();
  bury_link(d);
  const bool had = d.state != State::Idle;
  if (had) {
    ++d.epoch;
    d.state = State::Idle;
    if (!d.releasing)
      util::log_limited("BLE link down", spdlog::level::info, "BLE: {} link down ({})", d.address,
                        reason);
  }
  d.releasing = false;
  if (had) links.link_lost(d.address, Clock::now());
}

// ---------------------------------------------------------------- allow-list (SIGHUP)

std::string BleTransport::Impl::set_allow(const std::vector<std::string>& list) {
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
  spdlog::info("BLE: allow-list changed: {} allowed now, added [{}], removed [{}]", allowed.size(),
               join(added), join(removed));
  for (auto& [path, d] : devices) {
    if (std::binary_search(removed.begin(), removed.end(), d.address)) {
      revoke(d);
    } else if (std::binary_search(added.begin(), added.end(), d.address)) {
      d.revoked = false;
      d.ignored_logged = false;
      seen(d);  // already discovered: pair/connect it now
    }
  }
  run_links();
  return {};
}

// No longer allowed: drop the link and whatever is pending for it; it is not paired or connected
// again, and the agent refuses it.
void BleTransport::Impl::revoke(Device& d) {
  const bool had_link = d.state != State::Idle || d.connected;
  ++d.epoch;  // replies to Pair/Connect/StartNotify still in flight are ignored
  d.queue.clear();
  d.queued_bytes = 0;
  d.writing = false;
  d.reassembler.reset();
  bury_link(d);
  d.state = State::Idle;
  d.revoked = true;
  d.ignored_logged = true;
  links.forget(d.address);
  spdlog::info("BLE: {} ({}) removed from [ble] allow{}", d.address, d.name,
               had_link ? ": disconnecting" : "");
  if (d.connected) disconnect(d);
}

void BleTransport::Impl::disconnect(Device& d) {
  if (!d.proxy) d.proxy = sdbus::createProxy(*conn, bluez::kService, d.path);
  d.proxy->callMethodAsync("Disconnect")
      .onInterface(bluez::kDevice)
      .uponReplyInvoke([this, path = d.path](const sdbus::Error* e) {
        guarded("Disconnect", [&] {
          const auto it = devices.find(path);
          if (it == devices.end() || !e) return;
          if (bluez::error_is(e, "NotConnected")) {
            link_down(it->second, "not connected");
            return;
          }
          util::log_limited("BLE disconnect failed", spdlog::level::warn,
                            "BLE: cannot disconnect {}: {}", it->second.address, why(e));
        });
      });
}

void BleTransport::Impl::bury_link(Device& d) {
  ble::FdPoll::close(std::move(d.notify_fd));
  ble::FdPoll::close(std::move(d.write_fd));
  bury(d.rx);
  bury(d.tx);
  d.rx_path.clear();
  d.tx_path.clear();
}

void BleTransport::Impl::bury_device(Device& d) {
  bury_link(d);
  bury(d.proxy);
  ++d.epoch;
}

void BleTransport::Impl::bury(std::unique_ptr<sdbus::IProxy>& p) {
  if (p) graveyard.push_back(std::move(p));
}

void BleTransport::Impl::set_peer_idle(const PeerAddress& peer, bool idle) {
  const auto octets = ble::from_peer(peer);
  if (!octets) return;
  links.set_idle(ble::format_address(*octets), idle, Clock::now());
  run_links();
}

}  // namespace transport
