# Tansu, a Kafka-compatible broker, for the log's Kafka tests: installed when missing,
# started (in memory) when nothing listens on 9092, and stopped at the end by stop_started.
# Needs scripts/lib/services.sh sourced first.

TANSU_VERSION=0.6.0

ensure_tansu() {
  port_open 127.0.0.1 9092 && return 0
  local tansu="${CARGO_HOME:-$HOME/.cargo}/bin/tansu"
  if [ ! -x "$tansu" ]; then
    echo "==> installing tansu $TANSU_VERSION (a one-off build of several minutes)"
    cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore
  fi
  echo "==> starting tansu (Kafka API, in-memory storage)"
  "$tansu" broker \
    --storage-engine memory://tansu/ \
    --listener-url tcp://127.0.0.1:9092 \
    --advertised-listener-url tcp://127.0.0.1:9092 \
    >"${TMPDIR:-/tmp}/fundtrail-tansu.log" 2>&1 &
  STARTED+=("$!")
  wait_port 127.0.0.1 9092 tansu
}
