// Per-sensor certificate files (gateway/upstream/sensor_credentials.hpp): which ClientIds may name
// a file, template expansion, and the refusals (the loading itself is covered by tests/acl).
#include <doctest/doctest.h>

#include "gateway/upstream/sensor_credentials.hpp"
#include "gateway/upstream/upstream_options.hpp"

TEST_CASE("file_name_safe: printable, no separators, no ..") {
  CHECK(gw::file_name_safe("s1"));
  CHECK(gw::file_name_safe("kitchen-temp_01.a"));
  CHECK(gw::file_name_safe("a.b.c"));
  CHECK_FALSE(gw::file_name_safe(""));
  CHECK_FALSE(gw::file_name_safe("../s1"));
  CHECK_FALSE(gw::file_name_safe(".."));
  CHECK_FALSE(gw::file_name_safe("a..b"));
  CHECK_FALSE(gw::file_name_safe("a/b"));
  CHECK_FALSE(gw::file_name_safe("a\\b"));
  CHECK_FALSE(gw::file_name_safe("a b"));
  CHECK_FALSE(gw::file_name_safe(std::string("a\0b", 3)));
  CHECK_FALSE(gw::file_name_safe("caf\xc3\xa9"));
  CHECK_FALSE(gw::file_name_safe("a\nb"));
}

TEST_CASE("expand_client_id replaces every placeholder") {
  CHECK(gw::expand_client_id("/etc/s/{client_id}.crt", "s1") == "/etc/s/s1.crt");
  CHECK(gw::expand_client_id("{client_id}/{client_id}.pem", "x") == "x/x.pem");
  CHECK(gw::expand_client_id("/fixed", "x") == "/fixed");
}

TEST_CASE("sensor_credentials: no template -> ok; unsafe ClientId or missing file -> refused") {
  gw::UpstreamSecurity s;
  CHECK(gw::sensor_credentials(s, "../anything").ok);
  s.cert_file_template = "/nonexistent-dir/{client_id}.crt";
  const auto unsafe = gw::sensor_credentials(s, "../etc");
  CHECK_FALSE(unsafe.ok);
  CHECK(unsafe.reason.find("ClientId") != std::string::npos);
  const auto missing = gw::sensor_credentials(s, "s9");
  CHECK_FALSE(missing.ok);
  CHECK(missing.reason.find("/nonexistent-dir/s9.crt") != std::string::npos);
  CHECK(missing.key_file == "/nonexistent-dir/s9.crt");  // no key template: key in the same file
}
