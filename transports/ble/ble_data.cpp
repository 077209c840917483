// The data path: MTU - 3 chunks written to the AcquireWrite socket or one WriteValue at a time,
// notifications from the AcquireNotify socket or PropertiesChanged reassembled by the MQTT-SN
// length (framing.hpp); and the device/adapter views for status.
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>

#include "transports/ble/ble_impl.hpp"
#include "transports/log/limited_log.hpp"

namespace transport {

using namespace ble::detail;
namespace bluez = ble::bluez;

unsigned BleTransport::Impl::mtu_of(const Device& d) const {
  const auto it = chars.find(d.rx_path);
  return it == chars.end() ? kDefaultMtu : std::max(it->second.mtu, kDefaultMtu);
}

void BleTransport::Impl::notification(const std::string& char_path,
                                      const std::vector<std::uint8_t>& value) {
  for (auto& [path, d] : devices) {
    // A sensor may notify as soon as it is subscribed, before the StartNotify reply reaches us.
    if (d.tx_path != char_path || (d.state != State::Ready && d.state != State::Subscribing))
      continue;
    deliver(d, value);
    return;
  }
}

void BleTransport::Impl::deliver(Device& d, std::span<const std::uint8_t> chunk) {
  const auto peer = ble::to_peer(d.octets);
  links.activity(d.address, Clock::now());
  const auto dropped = d.reassembler.dropped();
  d.reassembler.feed(chunk, Clock::now(),
                     [&](std::span<const std::uint8_t> msg) { on_receive(peer, msg); });
  if (d.reassembler.dropped() != dropped) {
    ++d.errors;
    util::log_limited("BLE bad chunk", spdlog::level::debug,
                      "BLE: {}: dropped a chunk that does not fit the MQTT-SN framing", d.address);
  }
}

// The AcquireNotify socket: one notification per datagram (SOCK_SEQPACKET).
void BleTransport::Impl::on_notify_fd(const std::string& path, int status, int events) {
  const auto it = devices.find(path);
  if (it == devices.end() || !it->second.notify_fd) return;
  Device& d = it->second;
  std::array<std::uint8_t, 520> buf{};
  bool closed = status < 0;
  while (!closed) {
    const auto n = ::recv(d.notify_fd->fd(), buf.data(), buf.size(), 0);
    if (n > 0) {
      deliver(d, std::span<const std::uint8_t>(buf.data(), static_cast<std::size_t>(n)));
      if (!d.notify_fd) return;  // the gateway reacted by dropping the link
      continue;
    }
    closed = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
    break;
  }
  if (!closed && !(events & UV_DISCONNECT)) return;
  // BlueZ closed it (the link went, or notifications were released): without it we are deaf.
  ble::FdPoll::close(std::move(d.notify_fd));
  if (d.state == State::Ready && d.connected) {
    util::log_limited("BLE link down", spdlog::level::info,
                      "BLE: {}: notification socket closed; reconnecting", d.address);
    disconnect(d);
  }
}

void BleTransport::Impl::on_write_fd(const std::string& path, int status, int events) {
  const auto it = devices.find(path);
  if (it == devices.end() || !it->second.write_fd) return;
  Device& d = it->second;
  if (status < 0 || (events & UV_DISCONNECT)) {
    ble::FdPoll::close(std::move(d.write_fd));  // WriteValue from now on
  } else if (events & UV_WRITABLE) {
    d.write_fd->want_writable(false);
  }
  pump(d);
}

// Writes queued chunks to the AcquireWrite socket until it would block. false: no socket (any
// more): use WriteValue.
bool BleTransport::Impl::pump_fd(Device& d) {
  while (d.write_fd && !d.queue.empty()) {
    const auto& c = d.queue.front();
    const auto n = ::send(d.write_fd->fd(), c.bytes.data(), c.bytes.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      d.queued_bytes -= c.bytes.size();
      d.queue.pop_front();
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      d.write_fd->want_writable(true);
      return true;
    }
    ++d.errors;
    util::log_limited("BLE write failed", spdlog::level::warn,
                      "BLE: write socket to {} failed ({}); using WriteValue", d.address, errno);
    ble::FdPoll::close(std::move(d.write_fd));
  }
  return d.write_fd != nullptr;
}

void BleTransport::Impl::send(const PeerAddress& to, std::span<const std::uint8_t> bytes) {
  const auto octets = ble::from_peer(to);
  if (!octets || bytes.empty()) return;
  Device* dev = nullptr;
  for (auto& [path, d] : devices) {
    if (d.octets == *octets && (dev == nullptr || d.state == State::Ready)) dev = &d;
  }
  if (dev == nullptr || dev->state != State::Ready) {
    if (dev) ++dev->errors;
    util::log_limited("BLE not connected", spdlog::level::debug,
                      "BLE: {} not connected: {} bytes not sent", to_string(to), bytes.size());
    return;
  }
  if (dev->queued_bytes + bytes.size() > kMaxQueuedBytes) {
    ++dev->errors;
    util::log_limited("BLE queue full", spdlog::level::warn,
                      "BLE: {} write queue full: {} bytes dropped", dev->address, bytes.size());
    return;
  }
  const auto id = dev->next_message++;
  for (auto& c : ble::fragment(bytes, mtu_of(*dev) - 3)) {
    dev->queued_bytes += c.size();
    dev->queue.push_back(Chunk{std::move(c), id});
  }
  links.activity(dev->address, Clock::now());
  pump(*dev);
}

// One WriteValue in flight per device: BlueZ answers InProgress to a second one.
void BleTransport::Impl::pump(Device& d) {
  if (d.write_fd && pump_fd(d)) return;
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
          util::log_limited("BLE write failed", spdlog::level::warn,
                            "BLE: write to {} failed: {}; message dropped", dev.address, why(e));
          while (!dev.queue.empty() && dev.queue.front().message == id) {
            dev.queued_bytes -= dev.queue.front().bytes.size();
            dev.queue.pop_front();
          }
        }
        pump(dev);
      }));
}

// One line per sensor: the device object that holds (or is getting) its link, else any one on an
// adapter in use.
std::vector<BleTransport::DeviceInfo> BleTransport::Impl::device_list() const {
  std::map<std::string, const Device*> pick;
  for (const auto& [path, d] : devices) {
    const auto a = adapters.find(d.adapter);
    if (a == adapters.end() || !a->second.in_use) continue;
    auto& p = pick[d.address];
    if (p == nullptr || (p->state == State::Idle && d.state != State::Idle)) p = &d;
  }
  std::vector<DeviceInfo> out;
  for (const auto& [address, d] : pick) {
    DeviceInfo info{};
    info.address = d->address;
    info.name = d->name;
    info.rssi = d->rssi;
    info.paired = d->paired;
    info.bonded = d->bonded;
    info.trusted = d->trusted;
    info.connected = d->connected;
    info.mtu = d->state == State::Ready ? mtu_of(*d) : 0U;
    info.errors = d->errors;
    if (const auto v = links.sensor(address)) {
      if (!v->adapter.empty()) info.adapter = v->adapter.substr(v->adapter.rfind('/') + 1);
      info.connects = v->attempts;
      info.refused = v->refused;
    }
    out.push_back(std::move(info));
  }
  return out;
}

std::vector<BleTransport::AdapterInfo> BleTransport::Impl::adapter_list() const {
  const auto stats = links.adapters();
  std::vector<AdapterInfo> out;
  for (const auto& [path, a] : adapters) {
    AdapterInfo info;
    info.name = path.substr(path.rfind('/') + 1);
    info.powered = a.powered;
    info.in_use = a.in_use;
    info.max_connections = cfg.max_connections;
    if (const auto it = stats.find(path); it != stats.end()) {
      info.links = it->second.links;
      info.max_links = it->second.max_links;
      info.connects = it->second.connects;
      info.refused = it->second.refused;
      info.released = it->second.released;
    }
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace transport
