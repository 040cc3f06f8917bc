#!/usr/bin/env bash
# Makes the base images docker/Dockerfile starts from, without any registry: a Debian 12 root
# file system from debootstrap (minbase, from the Debian mirror apt uses here) imported into
# podman as debian:12, and the same trimmed of documentation, manuals and translations as
# debian:12-slim (dpkg then keeps them out of later installs too, as the official slim image
# does). Nothing happens when both images exist, unless --rebuild is given.
#   bash scripts/base-images.sh [--rebuild]
# Needs root (debootstrap, podman storage) and what `scripts/setup.sh --container` installs.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" != --rebuild ] && podman image exists debian:12 && podman image exists debian:12-slim; then
    echo "base-images: debian:12 and debian:12-slim already exist"
    exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "base-images: run as root (debootstrap)" >&2; exit 1; }

# The first URIs of a deb822 source (or deb line) for SUITE in apt's own configuration.
apt_uri() {
    local suite="$1"
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk -v s="$suite" '
            /^URIs:/ { uri = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s && uri != "") { print uri; exit } }
            /^deb / { for (i = 3; i <= NF; i++) if ($i == s) { print $2; exit } }' || true
}
mirror="${SSEB_DEBIAN_MIRROR:-$(apt_uri bookworm)}"
mirror="${mirror:-http://deb.debian.org/debian}"
security="$(apt_uri bookworm-security)"
security="${security:-http://deb.debian.org/debian-security}"

work="$(mktemp -d /var/tmp/sseb-base.XXXXXX)"
trap 'rm -rf "$work"' EXIT
root="$work/root"
start=$SECONDS
echo "base-images: debootstrap --variant=minbase bookworm from $mirror"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; exit 1; }

rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
# Images carry no package lists or downloaded packages: every build step fetches fresh lists.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/var/log/* "$root"/tmp/* "$root"/root/.cache
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Binary::apt::APT::Keep-Downloaded-Packages "false";
EOF
echo ssebroker-base >"$root/etc/hostname"

import() { # import TAG: the root file system as an image, with the shell as the default command
    tar --numeric-owner -C "$root" -c . |
        podman import -q --change 'CMD ["bash"]' \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            - "$1" >/dev/null
    echo "base-images: $1 ($(podman image inspect --format '{{.Size}}' "$1" | awk '{printf "%.1f MB", $1 / 1e6}'))"
}
import debian:12

# Slim: what a running service never reads. Copyright files stay (licences).
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
    "$root"/usr/share/lintian "$root"/usr/share/linda "$root"/usr/share/groff/*
cat >"$root/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
EOF
import debian:12-slim
echo "base-images: done in $((SECONDS - start)) s"
