#!/usr/bin/env bash
# Builds dist/mqttsn-gateway_<version>_<arch>.deb from `meson install --destdir` (no debian/
# folder: the package's metadata and maintainer scripts are in scripts/debian/).
# Usage: bash scripts/package.sh [amd64|arm64] [BUILD_DIR]   (Debian 12; root when deps are missing)
#   amd64 (default: this machine) builds natively; arm64 cross-builds with scripts/cross-aarch64.ini
#   (docs/cross-build.md). BUILD_DIR (default build-pkg-<arch>) may be an existing build, e.g. the
#   CI's arm64 one: it is switched to --prefix=/usr. DIST=dir puts the .deb elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-$(dpkg --print-architecture)}
build=${2:-build-pkg-$arch}
dist=${DIST:-dist}
case "$arch" in amd64 | arm64) ;; *) echo "package: arch must be amd64 or arm64" >&2; exit 2 ;; esac

# What the build and the packaging need (apt only when something is missing).
bash scripts/deps.sh
[ "$arch" = "$(dpkg --print-architecture)" ] || bash scripts/cross-deps.sh

# Debian's compiler and linker flags (hardening: fortify, stack protector, relro, bindnow, PIE).
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
flags() { DEB_HOST_ARCH=$arch dpkg-buildflags --get "$1"; }
setup=(--prefix=/usr --buildtype=plain -Db_pie=true)
if [ "$arch" != "$(dpkg --print-architecture)" ]; then
  [ "$arch" = arm64 ] || { echo "package: cross builds only for arm64" >&2; exit 2; }
  setup+=(--cross-file scripts/cross-aarch64.ini)
fi
if [ ! -f "$build/build.ninja" ]; then
  CFLAGS="$(flags CFLAGS) $(flags CPPFLAGS)" CXXFLAGS="$(flags CXXFLAGS) $(flags CPPFLAGS)" \
    LDFLAGS="$(flags LDFLAGS)" meson setup "$build" "${setup[@]}" -Dtests=disabled >/dev/null
else
  # A reused build: install under /usr (meson picks /etc for sysconfdir only at setup time).
  meson configure "$build" --prefix=/usr --sysconfdir=/etc --localstatedir=/var >/dev/null
fi
# Only what gets installed (a reused build dir may have the tests configured too).
mapfile -t targets < <(meson introspect "$build" --targets | /usr/bin/python3 -c '
import json, os, sys
build = sys.argv[1]
for t in json.load(sys.stdin):
    if t["installed"]:
        print("\n".join(os.path.relpath(f, os.path.abspath(build)) for f in t["filename"]))' "$build")
ninja -C "$build" -j"$(nproc)" "${targets[@]}" >/dev/null

version=$(meson introspect "$build" --projectinfo | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
meson install -C "$build" --destdir "$root" --no-rebuild >/dev/null
# Stripped the way dh_strip does (no debug symbols, .comment or .note sections in the package).
strip="strip"
[ "$arch" = "$(dpkg --print-architecture)" ] || strip=aarch64-linux-gnu-strip
for f in "$root"/usr/bin/*; do
  "$strip" --remove-section=.comment --remove-section=.note --strip-unneeded "$f"
done

doc=$root/usr/share/doc/mqttsn-gateway
install -d "$doc" "$root/usr/share/lintian/overrides" "$root/DEBIAN"
install -m 0644 scripts/debian/copyright "$doc/copyright"
install -m 0644 scripts/debian/lintian-overrides "$root/usr/share/lintian/overrides/mqttsn-gateway"
# A native package's changelog: the version and the commit it was built from.
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
date=$(git log -1 --format=%aD 2>/dev/null || date -R)
printf 'mqttsn-gateway (%s) unstable; urgency=medium\n\n  * Built from commit %s (see docs/ in the source).\n\n -- %s  %s\n' \
  "$version" "$commit" "${MAINTAINER:-MQTT-SN Gateway Maintainers <mqttsn-gateway@example.org>}" "$date" \
  | gzip -9n >"$doc/changelog.gz"
# Plain data files are 0644, directories 0755, whatever the umask was.
find "$root" -type d -exec chmod 0755 {} +
find "$root/etc" "$root/usr/share" "$root/usr/lib" -type f -exec chmod 0644 {} +

# Depends from the ELF files' libraries. dpkg-shlibdeps wants a debian/control around it.
mkdir -p "$work/src/debian"
printf 'Source: mqttsn-gateway\n\nPackage: mqttsn-gateway\nArchitecture: any\n' >"$work/src/debian/control"
mapfile -t elves < <(find "$root/usr/bin" -type f)
depends=$(cd "$work/src" && DEB_HOST_ARCH=$arch dpkg-shlibdeps -O -T/dev/null --warnings=1 "${elves[@]}" \
  | sed -n 's/^shlibs:Depends=//p')

for s in postinst prerm postrm; do install -m 0755 "scripts/debian/$s" "$root/DEBIAN/$s"; done
(cd "$root" && find etc -type f | sed 's,^,/,') >"$root/DEBIAN/conffiles"
(cd "$root" && find usr -type f -exec md5sum {} +) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
  -e "s|@DEPENDS@|$depends|" \
  -e "s|@MAINTAINER@|${MAINTAINER:-MQTT-SN Gateway Maintainers <mqttsn-gateway@example.org>}|" \
  scripts/debian/control.in >"$root/DEBIAN/control"

mkdir -p "$dist"
deb=$dist/mqttsn-gateway_${version}_${arch}.deb
fakeroot dpkg-deb --build -Zxz --root-owner-group "$root" "$deb" >/dev/null
echo "package: $deb ($(du -k "$deb" | cut -f1) KiB; Depends: $depends)"
