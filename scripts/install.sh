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
# Operators: the service runs as the system user `gatecam`; members of the group `gatecam`
# (sudo usermod -aG gatecam alice) run `gatecam plates`, `allow`, `status` without root
# through /usr/local/bin/gatecam, which keeps the database group-writable and, run by
# root, drops to the service user so no root-owned file is left in /var/lib/gatecam.
#
# Credentials: TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY, GATECAM_MQTT_PASSWORD and
# GATECAM_GATE_KEY (HMAC key of gate commands) from
# the environment are written to /etc/gatecam/credentials/<NAME> (root, 0600), which the unit
# hands to the daemon with LoadCredential=. Missing ones become empty files to fill in.
# The service runs as the system user gatecam (systemd-sysusers); /etc/gatecam/gatecam.yaml,
# whose camera URLs may carry passwords, is root:gatecam 0640 in a 0750 folder. The network
# drop-in gatecam.service.d/network.conf (python -m daemon.ops.sandbox) allows the LAN
# addresses the config names: run this script again after editing cameras or the broker.
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
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "install: unknown option $1" >&2; exit 2 ;;
  esac
done
root=${root%/}
if [[ -n $root ]]; then mkdir -p "$root"; root=$(cd "$root" && pwd); fi

opt="$root/opt/gatecam"
etc="$root/etc/gatecam"
creds="$etc/credentials"
unit_dir="$root/etc/systemd/system"
dropin_dir="$unit_dir/gatecam.service.d"
sysusers="$root/usr/lib/sysusers.d/gatecam.conf"
state="$root/var/lib/gatecam"
secrets=(TENCENTCLOUD_SECRET_ID TENCENTCLOUD_SECRET_KEY GATECAM_MQTT_PASSWORD GATECAM_GATE_KEY)
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
  rm -rf "$dropin_dir"
  rm -f "$sysusers"
  ((live)) && systemctl daemon-reload || true
  rm -rf "$opt" "$root/usr/local/bin/gatecam"
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

# 2. the service user and the operators' group: systemd-sysusers (its file also recreates
# them at boot), else groupadd/useradd (both also offline into DIR/etc with --root)
install -d -m 0755 "$(dirname "$sysusers")"
install -m 0644 systemd/gatecam.sysusers "$sysusers"
if command -v systemd-sysusers >/dev/null; then
  if [[ -n $root ]]; then mkdir -p "$root/etc"; systemd-sysusers --root="$root" "$sysusers" >&2
  else systemd-sysusers "$sysusers" >&2; fi
else
  account_opts=()
  if [[ -n $root ]]; then
    install -d -m 0755 "$root/etc"
    for f in passwd group shadow gshadow; do [[ -e $root/etc/$f ]] || : >"$root/etc/$f"; done
    account_opts=(--prefix "$root")
  fi
  grep -q '^gatecam:' "$root/etc/group" 2>/dev/null || groupadd "${account_opts[@]}" --system gatecam
  grep -q '^gatecam:' "$root/etc/passwd" 2>/dev/null ||
    useradd "${account_opts[@]}" --system --gid gatecam --no-create-home \
      --home-dir /var/lib/gatecam --shell /usr/sbin/nologin gatecam
fi
gid=$(awk -F: '$1 == "gatecam" { print $3 }' "$root/etc/group" 2>/dev/null || true)
[[ -n $gid ]] || { say "no group gatecam in $root/etc/group"; exit 1; }
say "the group gatecam may use the database: add operators with 'usermod -aG gatecam NAME'"

# 3. the program: a venv under /opt/gatecam with gatecam installed from this checkout
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
  "$src/scripts/keep-headless-opencv.sh" "$opt/.venv/bin/python"  # models' wheel wants GUI cv2
fi
install -m 0644 README.md "$opt/README.md"

# 4. configuration: the example always, the live file only if absent. Camera URLs may carry
# passwords: the live file is root:gatecam 0640 (fixed on upgrade if it was world-readable).
install -d -m 0750 -o 0 -g "$gid" "$etc"
chown 0:"$gid" "$etc" && chmod 0750 "$etc"

# the operators' command: umask 0007 keeps what they create group-writable; root runs it as
# the service user (a root-owned -wal/-shm or database would lock the service out)
install -d -m 0755 "$root/usr/local/bin"
cat >"$root/usr/local/bin/gatecam.tmp" <<'WRAPPER'
#!/bin/sh
# gatecam for operators (installed by scripts/install.sh): members of the group gatecam run
# it as themselves; root runs it as the service user. GATECAM_VENV / GATECAM_USER: tests.
umask 0007
bin="${GATECAM_VENV:-/opt/gatecam/.venv}/bin/gatecam"
if [ "$(id -u)" -eq 0 ]; then
  user="${GATECAM_USER:-gatecam}"
  exec setpriv --reuid="$user" --regid="$user" --clear-groups "$bin" "$@"
fi
exec "$bin" "$@"
WRAPPER
chmod 0755 "$root/usr/local/bin/gatecam.tmp" && mv -f "$root/usr/local/bin/gatecam.tmp" "$root/usr/local/bin/gatecam"

install -m 0644 config/gatecam.example.yaml "$etc/gatecam.example.yaml"
if [[ ! -e $etc/gatecam.yaml ]]; then
  install -m 0640 -o 0 -g "$gid" config/gatecam.example.yaml "$etc/gatecam.yaml"
  say "wrote $etc/gatecam.yaml from the example: edit cameras and site"
elif [[ $(stat -c '%a %g' "$etc/gatecam.yaml") != "640 $gid" ]]; then
  chown 0:"$gid" "$etc/gatecam.yaml" && chmod 0640 "$etc/gatecam.yaml"
  say "made $etc/gatecam.yaml root:gatecam 0640 (it may hold camera passwords)"
fi

# 5. credentials: root-only files, read by systemd (LoadCredential=), never by the YAML
install -d -m 0700 "$creds"
install -d -m 0700 "$creds/cameras"  # camera passwords: cameras[].password_credential
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

# 6. state: the service's folder, group gatecam, setgid so new files keep the group; an
# upgrade from the DynamicUser unit makes existing files group-accessible (owner: the unit)
if [[ -d $state ]]; then
  chgrp -R -H gatecam "$state" 2>/dev/null || chgrp -R -H "$(grep '^gatecam:' "$root/etc/group" | cut -d: -f3)" "$state"
  find -H "$state" -type d -exec chmod 2770 {} + -o -type f -exec chmod g+rw {} +
fi

# 7. the unit and its network drop-in, then reload, enable (start only once the keys are there)
install -d -m 0755 "$unit_dir"
install -m 0644 systemd/gatecam.service "$unit_dir/gatecam.service"
helper_python=$python
((pip)) && helper_python=$opt/.venv/bin/python
resolv="$root/etc/resolv.conf"; [[ -e $resolv ]] || resolv=/etc/resolv.conf
install -d -m 0755 "$dropin_dir"
if "$helper_python" -m daemon.ops.sandbox --config "$etc/gatecam.yaml" --resolv-conf "$resolv" \
     >"$dropin_dir/network.conf.tmp"; then
  mv -f "$dropin_dir/network.conf.tmp" "$dropin_dir/network.conf"
  chmod 0644 "$dropin_dir/network.conf"
else
  rm -f "$dropin_dir/network.conf.tmp"
  say "network drop-in NOT written ($etc/gatecam.yaml not valid?): the unit denies the LAN;"
  say "fix the config, then run this script again"
fi
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
