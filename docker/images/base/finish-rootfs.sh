#!/bin/sh
# Turns a fresh `debootstrap --variant=minbase bookworm ROOTFS MIRROR` tree into the base of
# the local images (stepwise/debian:bookworm), the way Docker's official Debian images are
# kept small: later package installs skip documentation and translations, apt keeps no
# downloaded packages, and nothing debootstrap downloaded stays behind. Run by provision's
# `images` module (`cargo xtask images`) as: sh finish-rootfs.sh ROOTFS MIRROR
set -eu
root=$1
mirror=$2

# Later installs (the service images) leave out docs, man pages and translations.
cat >"$root/etc/dpkg/dpkg.cfg.d/01-stepwise-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
CFG

# apt: no recommended packages, no translations, no cached .debs or package caches.
cat >"$root/etc/apt/apt.conf.d/01-stepwise-slim" <<'CFG'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb || true"; };
CFG

# Packages must not start their services while an image is built (there is no init anyway).
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"

# Updates and security fixes too, not only the release as debootstrap left it.
cat >"$root/etc/apt/sources.list" <<LIST
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
LIST

# What debootstrap left: downloaded packages, package lists, docs, logs, and the build
# host's name and resolver (Docker provides both per container).
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin \
    "$root"/var/lib/apt/lists/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/var/log/* "$root"/tmp/* "$root"/etc/resolv.conf "$root"/etc/hostname
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
