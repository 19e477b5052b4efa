#!/usr/bin/env bash
# Installs what the browser end-to-end test (browser_test.go) needs:
#   - Debian's Chromium at /usr/bin/chromium (apt-get), and
#   - the npm packages pinned in package-lock.json (npm ci): the NATS
#     JavaScript client, esbuild to bundle it for the page, playwright-core
#     to drive Chromium. No browser is downloaded by npm.
# Idempotent: when both are already in place it returns in well under a
# second. Run it from anywhere; it works in its own directory.
set -euo pipefail
cd "$(dirname "$0")"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

if [ -x /usr/bin/chromium ]; then
  echo "setup: chromium present: $(/usr/bin/chromium --version 2>/dev/null || echo '?')"
else
  echo "setup: installing chromium (apt-get)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  /usr/bin/chromium --version
fi

command -v node >/dev/null || { echo "setup: node is not installed" >&2; exit 1; }

# node_modules is reinstalled only when package.json or package-lock.json
# changed since the last successful npm ci here.
stamp=node_modules/.wsbroker-lock.sha256
want=$(cat package.json package-lock.json | sha256sum | cut -d" " -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "setup: node_modules up to date"
else
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
fi
