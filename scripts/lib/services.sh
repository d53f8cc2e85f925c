# Starting the machine's services the tests use, when they are stopped, and stopping at the
# end only what this run started.

STARTED=()

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_port() {
  local host=$1 port=$2 what=$3
  for _ in $(seq 1 100); do
    port_open "$host" "$port" && return 0
    sleep 0.2
  done
  echo "error: $what did not come up on $host:$port" >&2
  return 1
}

ensure_postgres() {
  port_open 127.0.0.1 5432 && return 0
  echo "==> starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  wait_port 127.0.0.1 5432 PostgreSQL
}

ensure_nats() {
  port_open 127.0.0.1 4222 && return 0
  echo "==> starting NATS with JetStream"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  wait_port 127.0.0.1 4222 NATS
}

stop_started() {
  for pid in "${STARTED[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
}

# xmllint validates the IATI exports against the official schemas in the tests.
ensure_xmllint() {
  command -v xmllint >/dev/null 2>&1 && return 0
  echo "==> installing xmllint (libxml2-utils)"
  apt-get update -qq && apt-get install -y -qq libxml2-utils >/dev/null
}
