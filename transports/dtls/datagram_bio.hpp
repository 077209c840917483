// An OpenSSL BIO that carries whole datagrams between one SSL object and the libuv socket:
// the transport hands it one received datagram before calling into the SSL object, and every
// record OpenSSL writes goes out at once through a send callback. OpenSSL 3.0 has no datagram
// memory BIO (a memory BIO would merge datagrams), hence this one.
#pragma once

#include <openssl/bio.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

namespace transport {

struct DatagramLink {
  // Sends one datagram to the peer this link belongs to.
  std::function<void(std::span<const std::uint8_t>)> send;
  // The datagram OpenSSL may read next; empty once read.
  std::span<const std::uint8_t> inbound;
  // Datagrams larger than what OpenSSL asked for (cut: counted, the record fails its MAC).
  std::uint64_t truncated = 0;
  // Whoever owns the link (the transport's peer record), for OpenSSL callbacks.
  void* owner = nullptr;
};

// A new BIO reading from and writing to `link` (not owned: it must outlive the BIO).
// nullptr when OpenSSL is out of memory.
BIO* datagram_bio_new(DatagramLink* link);
// The link of a BIO made by datagram_bio_new; nullptr for any other BIO.
DatagramLink* datagram_bio_link(BIO* bio);

}  // namespace transport
