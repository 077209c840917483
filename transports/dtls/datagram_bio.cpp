#include "transports/dtls/datagram_bio.hpp"

#include <algorithm>
#include <cstring>
#include <memory>

namespace transport {

namespace {

// What OpenSSL may put in one datagram (SSL_set_mtu is set lower by the transport).
constexpr long kMtu = 1400;

int bio_write(BIO* bio, const char* data, int len) {
  auto* link = static_cast<DatagramLink*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (link == nullptr || len < 0) return -1;
  if (link->send)
    link->send(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(data),
                                             static_cast<std::size_t>(len)));
  return len;
}

int bio_read(BIO* bio, char* out, int size) {
  auto* link = static_cast<DatagramLink*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (link == nullptr || size < 0) return -1;
  if (link->inbound.empty()) {
    BIO_set_retry_read(bio);
    return -1;
  }
  const std::size_t n = std::min(link->inbound.size(), static_cast<std::size_t>(size));
  if (n < link->inbound.size()) ++link->truncated;
  std::memcpy(out, link->inbound.data(), n);
  link->inbound = {};
  return static_cast<int>(n);
}

long bio_ctrl(BIO* bio, int cmd, long num, void* /*ptr*/) {
  auto* link = static_cast<DatagramLink*>(BIO_get_data(bio));
  switch (cmd) {
    case BIO_CTRL_FLUSH:
    case BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT:
      return 1;
    case BIO_CTRL_PENDING:
      return link != nullptr ? static_cast<long>(link->inbound.size()) : 0;
    case BIO_CTRL_WPENDING:
      return 0;
    case BIO_CTRL_DGRAM_QUERY_MTU:
    case BIO_CTRL_DGRAM_GET_FALLBACK_MTU:
      return kMtu;
    case BIO_CTRL_DGRAM_GET_MTU_OVERHEAD:
      return 48;  // IPv6 + UDP headers, the larger case
    case BIO_CTRL_DGRAM_SET_MTU:
      return num;
    default:
      // Peer address queries and the rest: not supported (DTLSv1_listen copes).
      return 0;
  }
}

int bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

int bio_destroy(BIO* bio) {
  BIO_set_data(bio, nullptr);
  return 1;
}

struct MethodDeleter {
  void operator()(BIO_METHOD* m) const noexcept { BIO_meth_free(m); }
};

int type() {
  static const int t = BIO_get_new_index() | BIO_TYPE_SOURCE_SINK;
  return t;
}

// One method for the whole process, made on first use (loop thread only).
BIO_METHOD* method() {
  static const std::unique_ptr<BIO_METHOD, MethodDeleter> m = [] {
    BIO_METHOD* made = BIO_meth_new(type(), "mqttsn datagram");
    if (made != nullptr) {
      BIO_meth_set_write(made, bio_write);
      BIO_meth_set_read(made, bio_read);
      BIO_meth_set_ctrl(made, bio_ctrl);
      BIO_meth_set_create(made, bio_create);
      BIO_meth_set_destroy(made, bio_destroy);
    }
    return std::unique_ptr<BIO_METHOD, MethodDeleter>(made);
  }();
  return m.get();
}

}  // namespace

BIO* datagram_bio_new(DatagramLink* link) {
  BIO_METHOD* m = method();
  if (m == nullptr) return nullptr;
  BIO* bio = BIO_new(m);
  if (bio != nullptr) BIO_set_data(bio, link);
  return bio;
}

DatagramLink* datagram_bio_link(BIO* bio) {
  if (bio == nullptr || BIO_method_type(bio) != type()) return nullptr;
  return static_cast<DatagramLink*>(BIO_get_data(bio));
}

}  // namespace transport
