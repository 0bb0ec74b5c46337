#!/usr/bin/env bash
# scripts/test/test.sh — `npm test`, the README's test command: everything the suite needs, from
# scratch, then the whole suite. For a Debian 12 machine with Node.js and npm, run as root (CI runs
# exactly this, see .ci/run). Each step is idempotent and quick when already done:
#   1. Debian packages the tests use (apt-get; `apt-get update` only when one is missing);
#   2. Postfix with Cyrus SASL for the real-smarthost tests (scripts/test/postfix-smarthost.sh install:
#      no system instance is configured or started);
#   3. the pinned npm packages (`npm ci`) when node_modules is missing or does not match;
#   4. a private Postfix smarthost on a free 127.0.0.1 port (OUTBOX_TEST_POSTFIX_DIR), stopped
#      and removed again when the suite ends (unless OUTBOX_TEST_POSTFIX_DIR already names one);
#   5. scripts/test/test.mjs "$@": build, then every test (arguments filter test files by name); at
#      the end, any step that used more than a fifth of its time limit is listed.
# Developers can run single files without any of this: node scripts/test/test.mjs FILTER...
set -euo pipefail
cd "$(dirname "$0")/../.."

die() { echo "npm test: $*" >&2; exit 1; }
say() { echo "npm test: $*" >&2; }

# Packages the tests run (the smarthost's own are in scripts/test/postfix-smarthost.sh): PHP's mail()
# and Symfony Mailer (callers), openssl (test PKI), swaks with the TLS module it only recommends
# (libnet-ssleay-perl: --tls) and IPv6 (libio-socket-inet6-perl), iproute2 (network namespaces),
# man-db (renders the manual pages), pflogsumm (reads our log as a Postfix report), strace (fsync
# order, mailq never opens a body), procps (pgrep), systemd (systemd-analyze verifies the
# packaged units), util-linux (setpriv, unshare, prlimit), s-nail and git-email with
# libmailtools-perl (the mailx and git send-email callers of the sender-identity test),
# python3-minimal (a /dev/log stand-in for the syslog test) and bsdutils (logger(1)).
PACKAGES=(php-cli php-symfony-mailer openssl ca-certificates swaks libnet-ssleay-perl libio-socket-inet6-perl
  iproute2 man-db pflogsumm s-nail git-email libmailtools-perl strace procps systemd util-linux
  python3-minimal bsdutils)

if [[ $(id -u) -ne 0 ]]; then
  die "the whole suite needs root. It installs Debian packages (${PACKAGES[*]}, postfix, sasl2-bin,
  libsasl2-modules) with apt-get, starts a private Postfix on 127.0.0.1, and its tests create
  users, mount tmpfs and overlay filesystems, use network namespaces, and install Outbox into
  /usr/sbin, /usr/local and /etc (putting the machine back afterwards). Run it as root (for
  example: sudo npm test), or run single test files without this set-up:
  node scripts/test/test.mjs FILTER..."
fi
command -v apt-get >/dev/null && command -v dpkg-query >/dev/null ||
  die "needs a Debian system (apt-get, dpkg-query): the tests run Debian's PHP, Postfix and dpkg"

# 1. Debian packages.
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # --no-remove: none of these may take anything away from the machine.
  apt-get install -y -qq --no-install-recommends --no-remove "${missing[@]}" >/dev/null
fi

# 2. Postfix and SASL (if another MTA package is installed, apt replaces it: Postfix conflicts
#    with it).
scripts/test/postfix-smarthost.sh install

# 3. npm packages, as pinned by package-lock.json.
if [[ ! -d node_modules ]] || ! npm ls --all >/dev/null 2>&1; then
  say "installing the pinned npm packages (npm ci)"
  npm ci
fi

# The formatting is part of the build's contract: `npm run format` fixes what this refuses.
say "checking the formatting (prettier)"
if ! npx --no-install prettier --check --log-level warn "src/**/*.ts" "test/**/*.ts" "scripts/**/*.mjs" "bench/**/*.ts"; then
  die "some files are not formatted: run npm run format"
fi

# What this run creates is removed when it ends, however it ends.
postfix_dir=''
headroom_log=$(mktemp /tmp/outbox-test-headroom.XXXXXX)
cleanup() {
  if [[ -n $postfix_dir ]]; then
    scripts/test/postfix-smarthost.sh stop "$postfix_dir" >/dev/null 2>&1 || true
    rm -rf "$postfix_dir"
  fi
  rm -f "$headroom_log"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 4. The smarthost, on a free port, for this run.
if [[ -n ${OUTBOX_TEST_POSTFIX_DIR:-} ]] && scripts/test/postfix-smarthost.sh status "$OUTBOX_TEST_POSTFIX_DIR" >/dev/null; then
  say "using the Postfix smarthost in $OUTBOX_TEST_POSTFIX_DIR"
else
  postfix_dir=$(mktemp -d /tmp/outbox-test-postfix.XXXXXX)
  port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  SMARTHOST_PORT=$port scripts/test/postfix-smarthost.sh start "$postfix_dir" >/dev/null
  export OUTBOX_TEST_POSTFIX_DIR=$postfix_dir
fi

# 5. The suite (not exec: the trap cleans up afterwards). Steps that used more than a fifth of
#    their time limit are listed at the end (test/helpers/run.ts noteHeadroom).
export OUTBOX_TEST_HEADROOM_LOG=$headroom_log
status=0
node scripts/test/test.mjs "$@" || status=$?
if [[ -s $headroom_log ]]; then
  say "time limits with less than 5x headroom in this run (raise them):"
  sed 's/^/  /' "$headroom_log" >&2
fi
exit "$status"
