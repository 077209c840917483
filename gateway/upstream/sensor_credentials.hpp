// Per-sensor client certificates ([broker.tls] cert_file_template / key_file_template): which
// files a sensor's upstream presents, and whether they load, checked before any Paho client is
// made so that a sensor without usable credentials never reaches the broker.
#pragma once

#include <string>
#include <string_view>

namespace gw {

struct UpstreamSecurity;

// True if `client_id` may be put into a file name: printable ASCII, not empty, no '/', no '\\',
// no "..".
bool file_name_safe(std::string_view client_id);

// `tmpl` with every "{client_id}" replaced by `client_id`.
std::string expand_client_id(std::string_view tmpl, std::string_view client_id);

struct SensorCredentials {
  bool ok = true;
  std::string cert_file;  // expanded; empty: no template
  std::string key_file;
  std::string reason;  // when !ok: what is wrong, naming the file
};

// The sensor's certificate and key files for its ClientId (as the sensor sent it, without
// broker.client_id_prefix). With no templates configured: ok, empty names. Reads the files on
// every call (a rotated certificate is picked up at the next connect): both must exist, be
// readable PEM, and the key must belong to the certificate.
SensorCredentials sensor_credentials(const UpstreamSecurity& s, const std::string& client_id);

}  // namespace gw
