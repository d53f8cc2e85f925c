# nginx, for the tests of the gRPC entry point (tests/tests/entry.rs): installed when missing,
# never started here. Each test runs its own nginx in the foreground, from
# deploy/nginx/fundtrail.conf.template filled with its ports, and stops it when it ends.

ensure_nginx() {
  command -v nginx >/dev/null 2>&1 && return 0
  echo "==> installing nginx (only the binary is used; the system's nginx is not started)"
  # RUNLEVEL=1 keeps the package's scripts from starting the system nginx on port 80 where no
  # policy-rc.d forbids it.
  apt-get update -qq && RUNLEVEL=1 apt-get install -y -qq nginx >/dev/null
}
