#!/usr/bin/env bash
# Install gatecam as a systemd service on Raspberry Pi OS / Debian 12. Idempotent: run it
# again to upgrade; the operator's config and credentials are never overwritten.
#
#   sudo scripts/install.sh                 install or upgrade, enable the unit
#   sudo scripts/install.sh --uninstall     stop, disable, remove the unit and /opt/gatecam
#                                           (keeps /etc/gatecam and /var/lib/gatecam; add --purge)
#   scripts/install.sh --root DIR           write everything under DIR (no apt-get, no running
#                                           systemd: the unit is enabled offline) - for tests
#   --no-pip                                create the venv but do not pip-install into it
#
# Credentials: TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY and GATECAM_MQTT_PASSWORD from
# the environment are written to /etc/gatecam/credentials/<NAME> (root, 0600), which the unit
# hands to the daemon with LoadCredential=. Missing ones become empty files to fill in.
set -o errexit -o pipefail -o nounset
cd "$(dirname "$0")/.."
src=$(pwd)

root="${DESTDIR:-}"
uninstall=0 purge=0 pip=1
while (($#)); do
  case $1 in
    --root) root=${2:?--root needs a directory}; shift 2 ;;
    --root=*) root=${1#--root=}; shift ;;
    --uninstall) uninstall=1; shift ;;
    --purge) purge=1; shift ;;
    --no-pip) pip=0; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "install: unknown option $1" >&2; exit 2 ;;
  esac
done
root=${root%/}
if [[ -n $root ]]; then mkdir -p "$root"; root=$(cd "$root" && pwd); fi

opt="$root/opt/gatecam"
etc="$root/etc/gatecam"
creds="$etc/credentials"
unit_dir="$root/etc/systemd/system"
state="$root/var/lib/gatecam"
secrets=(TENCENTCLOUD_SECRET_ID TENCENTCLOUD_SECRET_KEY GATECAM_MQTT_PASSWORD)
live=0
[[ -z $root && -d /run/systemd/system ]] && live=1

say() { echo "install: $*" >&2; }
systemctl_() {  # offline (--root) or live systemctl; absent systemctl is not fatal
  command -v systemctl >/dev/null || { say "systemctl not found: skipping 'systemctl $*'"; return 0; }
  if [[ -n $root ]]; then systemctl --root="$root" "$@"; elif ((live)); then systemctl "$@"; fi
}

if ((uninstall)); then
  ((live)) && systemctl_ stop gatecam.service || true
  [[ -f $unit_dir/gatecam.service ]] && systemctl_ disable gatecam.service || true
  rm -f "$unit_dir/gatecam.service" "$unit_dir/multi-user.target.wants/gatecam.service"
  ((live)) && systemctl daemon-reload || true
  rm -rf "$opt"
  if ((purge)); then
    rm -rf "$etc" "$state" "$root/var/lib/private/gatecam"
    say "removed gatecam, its configuration, credentials and data"
  else
    say "removed gatecam; kept $etc and $state (use --purge to delete them)"
  fi
  exit 0
fi

# 1. system packages (only on the real system)
if [[ -z $root ]]; then
  [[ $(id -u) -eq 0 ]] || { say "run as root (sudo), or use --root DIR"; exit 1; }
  debs=(python3 python3-venv python3-pip ca-certificates)
  missing=()
  for pkg in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    say "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi

# 2. the program: a venv under /opt/gatecam with gatecam installed from this checkout
install -d -m 0755 "$opt"
python=${PYTHON:-python3}
if [[ ! -x $opt/.venv/bin/python ]]; then
  say "creating $opt/.venv with $($python --version)"
  venv_opts=()
  ((pip)) || venv_opts=(--without-pip)  # --no-pip (tests): skip the slow ensurepip step
  "$python" -m venv "${venv_opts[@]}" "$opt/.venv"
fi
if ((pip)); then
  say "installing gatecam into $opt/.venv"
  "$opt/.venv/bin/python" -m pip install --quiet --upgrade pip
  "$opt/.venv/bin/python" -m pip install --quiet --upgrade "$src"
  # The local reader's model wheel (rapidocr-onnxruntime) declares the GUI opencv-python,
  # which shares the cv2 folder with opencv-python-headless and needs libGL: keep headless.
  if "$opt/.venv/bin/python" -m pip show --quiet opencv-python >/dev/null 2>&1; then
    "$opt/.venv/bin/python" -m pip uninstall --quiet -y opencv-python
    "$opt/.venv/bin/python" -m pip install --quiet --force-reinstall --no-deps \
      "$("$opt/.venv/bin/python" -m pip freeze | grep -i '^opencv-python-headless==')"
  fi
fi
install -m 0644 README.md "$opt/README.md"

# 3. configuration: the example always, the live file only if absent
install -d -m 0755 "$etc"
install -m 0644 config/gatecam.example.yaml "$etc/gatecam.example.yaml"
if [[ ! -e $etc/gatecam.yaml ]]; then
  install -m 0644 config/gatecam.example.yaml "$etc/gatecam.yaml"
  say "wrote $etc/gatecam.yaml from the example: edit cameras and site"
fi

# 4. credentials: root-only files, read by systemd (LoadCredential=), never by the YAML
install -d -m 0700 "$creds"
empty=()
for name in "${secrets[@]}"; do
  file="$creds/$name"
  if [[ -n ${!name:-} ]]; then
    (umask 077; printf '%s' "${!name}" >"$file.tmp") && mv -f "$file.tmp" "$file"
  elif [[ ! -e $file ]]; then
    (umask 077; : >"$file")
  fi
  chmod 0600 "$file"
  [[ -s $file ]] || empty+=("$name")
done

# 5. the unit: install, reload, enable (start only once the Tencent keys are there)
install -d -m 0755 "$unit_dir"
install -m 0644 systemd/gatecam.service "$unit_dir/gatecam.service"
((live)) && systemctl daemon-reload
systemctl_ enable gatecam.service
if [[ -z $root ]] && [[ ! -s $creds/TENCENTCLOUD_SECRET_ID || ! -s $creds/TENCENTCLOUD_SECRET_KEY ]]; then
  say "not started: put the Tencent keys in $creds/ (0600), then: systemctl start gatecam"
elif ((live)); then
  systemctl restart gatecam.service
  say "started; follow it with: journalctl -u gatecam -f   and: $opt/.venv/bin/gatecam status -c $etc/gatecam.yaml"
fi
((${#empty[@]})) && say "empty credentials (fill in if needed): ${empty[*]}"
say "done: $opt, $etc, $unit_dir/gatecam.service"
