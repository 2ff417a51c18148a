#!/usr/bin/env bash
# Prepare a Debian / Raspberry Pi OS machine for gatecam's demo and tests:
# the Debian packages (mosquitto, GStreamer RTSP server, ffmpeg, a CJK font), then
# .venv with the project and its extras. Idempotent; sourced-free: run it directly.
#   scripts/setup.sh [EXTRAS]   (default extras: test,dev)
set -o errexit -o pipefail -o nounset
cd "$(dirname "$0")/.."

extras="${1:-test,dev}"
debs=(mosquitto mosquitto-clients ffmpeg fonts-wqy-zenhei
      python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-tools
      gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
      gstreamer1.0-plugins-ugly gstreamer1.0-libav python3-venv systemd
      openssl  # openssl: the MQTT TLS tests make their CA and certificates
      chromium chromium-driver)  # the operator page's browser tests (tests/web, Selenium)
# prometheus ships promtool, which the tests run on /metrics and contrib's rules; only with
# the test extra (the package also installs, and starts, a Prometheus server on :9090)
[[ ,$extras, == *,test,* ]] && debs+=(prometheus)

missing=()
for pkg in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then as_root=(); elif sudo -n true 2>/dev/null; then as_root=(sudo -n); else as_root=(none); fi
  if [[ ${as_root[0]:-} == none ]]; then
    echo "setup: missing Debian packages and no root/sudo to install them: ${missing[*]}" >&2
    echo "setup: run: sudo apt-get install -y ${missing[*]}" >&2
  else
    echo "setup: installing Debian packages: ${missing[*]}" >&2
    "${as_root[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
fi

python=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  echo "setup: creating .venv with $($python --version)" >&2
  "$python" -m venv .venv
fi
stamp=".venv/.gatecam-installed-$(sha256sum pyproject.toml | cut -c1-16)-${extras//,/_}"
if [[ ! -f $stamp ]]; then
  echo "setup: installing gatecam[$extras] into .venv" >&2
  .venv/bin/python -m pip install --quiet --upgrade pip >&2
  .venv/bin/python -m pip install --quiet -e ".[$extras]" >&2
  scripts/keep-headless-opencv.sh .venv/bin/python >&2  # the models' wheel wants GUI OpenCV
  rm -f .venv/.gatecam-installed-*
  touch "$stamp"
fi
