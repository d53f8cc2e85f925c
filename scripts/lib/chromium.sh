# Chromium, for the web view's browser test (tests/tests/web.rs): installed when missing,
# driven headless by the test itself over its DevTools protocol.

ensure_chromium() {
  command -v chromium >/dev/null 2>&1 && return 0
  echo "==> installing chromium (headless, for the web view's browser test)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
}
