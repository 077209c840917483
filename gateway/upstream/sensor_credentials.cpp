#include "gateway/upstream/sensor_credentials.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "gateway/upstream/upstream_options.hpp"

namespace gw {

namespace {
struct FileCloser {
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};
struct X509Free {
  void operator()(X509* x) const noexcept { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

// OpenSSL's password callback: the configured key password (empty: none).
int key_password_cb(char* buf, int size, int, void* user) {
  const auto* pw = static_cast<const std::string*>(user);
  if (pw == nullptr || size <= 0) return 0;
  const int n = static_cast<int>(std::min<std::size_t>(pw->size(), static_cast<std::size_t>(size)));
  pw->copy(buf, static_cast<std::size_t>(n));
  return n;
}

SensorCredentials refuse(SensorCredentials c, std::string reason) {
  c.ok = false;
  c.reason = std::move(reason);
  ERR_clear_error();  // leave nothing behind for Paho's own OpenSSL error reporting
  return c;
}
}  // namespace

bool file_name_safe(std::string_view id) {
  if (id.empty() || id.find("..") != std::string_view::npos) return false;
  for (const char ch : id) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x21 || c > 0x7e || c == '/' || c == '\\') return false;
  }
  return true;
}

std::string expand_client_id(std::string_view tmpl, std::string_view client_id) {
  static constexpr std::string_view placeholder = "{client_id}";
  std::string out;
  for (std::size_t i = 0; i < tmpl.size();) {
    if (tmpl.compare(i, placeholder.size(), placeholder) == 0) {
      out += client_id;
      i += placeholder.size();
    } else {
      out += tmpl[i++];
    }
  }
  return out;
}

SensorCredentials sensor_credentials(const UpstreamSecurity& s, const std::string& client_id) {
  SensorCredentials c;
  if (s.cert_file_template.empty()) return c;
  if (!file_name_safe(client_id))
    return refuse(c, "ClientId not usable in a certificate file name (printable, no '/', no '..')");
  c.cert_file = expand_client_id(s.cert_file_template, client_id);
  c.key_file =
      s.key_file_template.empty() ? c.cert_file : expand_client_id(s.key_file_template, client_id);
  File cf(std::fopen(c.cert_file.c_str(), "r"));
  if (!cf) return refuse(c, "cannot read certificate \"" + c.cert_file + "\"");
  std::unique_ptr<X509, X509Free> cert(PEM_read_X509(cf.get(), nullptr, nullptr, nullptr));
  if (!cert) return refuse(c, "no PEM certificate in \"" + c.cert_file + "\"");
  File kf(std::fopen(c.key_file.c_str(), "r"));
  if (!kf) return refuse(c, "cannot read key \"" + c.key_file + "\"");
  std::string password = s.key_password;
  std::unique_ptr<EVP_PKEY, KeyFree> key(
      PEM_read_PrivateKey(kf.get(), nullptr, key_password_cb, &password));
  if (!key) return refuse(c, "no usable PEM private key in \"" + c.key_file + "\"");
  if (X509_check_private_key(cert.get(), key.get()) != 1)
    return refuse(c, "key \"" + c.key_file + "\" does not belong to \"" + c.cert_file + "\"");
  return c;
}

}  // namespace gw
