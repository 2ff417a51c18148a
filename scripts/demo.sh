#!/usr/bin/env bash
# The quick-start demo: set up, generate a sample lane clip, start a private mosquitto,
# run gatecam's full pipeline on the clip against the local Tencent emulator, and print
# the passages as an MQTT subscriber received them, then a one-line summary.
#   scripts/demo.sh
set -o errexit -o pipefail -o nounset
cd "$(dirname "$0")/.."

scripts/setup.sh test,dev
py=.venv/bin/python
work=var/demo
mkdir -p "$work"
rm -rf "$work/gatecam.db"* "$work/snapshots" "$work/mosquitto"

if [[ ! -f $work/demo.mp4 || ! -f $work/demo.json ]]; then
  echo "demo: generating the sample clip ($work/demo.mp4)" >&2
  $py scripts/make_clip.py --scenario demo --out "$work/demo.mp4" >&2
fi

port=$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/mosquitto"
cat > "$work/mosquitto/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
persistence false
log_dest stderr
CONF
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
/usr/sbin/mosquitto -c "$work/mosquitto/mosquitto.conf" 2> "$work/mosquitto/mosquitto.log" & pids+=($!)
for _ in $(seq 50); do
  (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
mosquitto_sub -h 127.0.0.1 -p "$port" -t 'gatecam/+/+/passage' -q 1 -v > "$work/subscriber.txt" & pids+=($!)
sleep 0.3

echo "demo: replaying $work/demo.mp4 through gatecam (broker 127.0.0.1:$port, OCR emulator on loopback)" >&2
.venv/bin/gatecam --log-level WARNING demo --clip "$work/demo.mp4" --config config/demo.yaml \
  --mqtt-port "$port" --db "sqlite:///$work/gatecam.db" > "$work/events.jsonl"
sleep 0.5
$py scripts/demo_report.py "$work/subscriber.txt" "$work/demo.json"
