#!/usr/bin/env bash
# Builds the project's images with Debian's Docker Engine from a debootstrapped Debian base (no
# registry can be pulled from here) and saves each as a `docker save` archive that the test node's
# containerd imports. Each archive is cached under $IOTEMU_CACHE/images by the hash of its inputs:
# unchanged sources build nothing. Prints the archives' paths.
#
#   bash cluster/images.sh            # emulator and app (operator + dashboard) images
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
cache="${IOTEMU_CACHE:-/var/cache/iotemu}"
images="$cache/images"
run=/run/iotemu-docker
docker=(/usr/bin/docker -H "unix://$run/docker.sock")
mkdir -p "$images" "$run"

inputs_hash() { (cd "$root" && git ls-files -z -- "$@" | xargs -0 sha256sum | sha256sum | cut -c1-16); }

emulator_sources=(pyproject.toml emulator-image cli)  # the emulator image copies these only
sources=("${emulator_sources[@]}" operator dashboard/iot_dashboard)
emulator="$images/iot-emulator-$(inputs_hash "${emulator_sources[@]}").tar"
app="$images/iot-emulator-app-$(inputs_hash "${sources[@]}" dashboard/web).tar"
if [ -f "$emulator" ] && [ -f "$app" ]; then echo "$emulator"; echo "$app"; exit 0; fi
if [ ! -f "$root/dashboard/web/dist/index.html" ]; then echo "images.sh: build the web tab first (make web)" >&2; exit 1; fi

# A private Docker Engine: no iptables, no bridge (builds use the host's network), its own data root
# (kept: the base image and build cache survive between runs).
started=""
if ! "${docker[@]}" version >/dev/null 2>&1; then
  dockerd --iptables=false --ip6tables=false --bridge=none --data-root "$cache/docker" \
    --exec-root "$run/exec" --pidfile "$run/dockerd.pid" -H "unix://$run/docker.sock" >"$cache/dockerd.log" 2>&1 &
  started=$!
  for _ in $(seq 100); do "${docker[@]}" version >/dev/null 2>&1 && break; sleep 0.2; done
fi
stop() { if [ -n "$started" ]; then kill "$started"; wait "$started" 2>/dev/null || true; fi; }
trap stop EXIT

base=iotemu.local/bookworm:minbase
if ! "${docker[@]}" image inspect "$base" >/dev/null 2>&1; then
  rootfs="$(mktemp -d)"
  mirror="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
  debootstrap --variant=minbase bookworm "$rootfs" "${mirror:-http://deb.debian.org/debian}" >"$cache/debootstrap.log" 2>&1
  tar -C "$rootfs" -c . | "${docker[@]}" import - "$base" >/dev/null
  rm -rf "$rootfs"
fi

# The build context: the tracked sources, the web tab built on the host, and the host's CA bundle
# (pip inside the build then trusts what pip here trusts, e.g. a TLS-inspecting proxy).
context="$(mktemp -d)"
trap 'rm -rf "$context"; stop' EXIT
(cd "$root" && git ls-files -z -- "${sources[@]}" dashboard/web | tar --null -T - -c) | tar -C "$context" -x
cp -r "$root/dashboard/web/dist" "$context/dashboard/web/dist"
ca="${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}"
if [ -f "$ca" ]; then cp "$ca" "$context/build-ca.crt"; fi

build() { # tag, dockerfile, archive, extra args...
  local tag="$1" dockerfile="$2" archive="$3"
  shift 3
  if [ ! -f "$archive" ]; then
    DOCKER_BUILDKIT=1 "${docker[@]}" build -q --network host --build-arg "BASE_IMAGE=$base" "$@" \
      -f "$context/$dockerfile" -t "$tag" "$context" >&2
    "${docker[@]}" save -o "$archive.tmp" "$tag"
    mv "$archive.tmp" "$archive"
    # older archives of the same image: superseded
    find "$images" -maxdepth 1 -name "$(basename "${archive%-*}")-????????????????.tar" ! -path "$archive" -delete
  fi
  echo "$archive"
}
build iot-emulator:0.1.0 emulator-image/Dockerfile "$emulator"
build iot-emulator-app:0.1.0 operator/Dockerfile "$app" --build-arg WEB=web-prebuilt
