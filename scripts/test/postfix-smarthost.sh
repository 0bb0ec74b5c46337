#!/usr/bin/env bash
# postfix-smarthost.sh — a private, real Postfix "smarthost" for Outbox's tests
# and benchmarks.
#
# Usage:
#   scripts/test/postfix-smarthost.sh install        # apt-get install postfix & friends (idempotent)
#   scripts/test/postfix-smarthost.sh start  DIR     # (re)create and start a private instance in DIR
#   scripts/test/postfix-smarthost.sh stop   DIR     # stop it (bounded wait)
#   scripts/test/postfix-smarthost.sh status DIR     # exit 0 iff it answers 220 on its port
#
# The instance is completely private: config in DIR/etc, queue in DIR/queue,
# data in DIR/data, log in DIR/postfix.log, TLS material in DIR/tls, SASL
# users in DIR/sasldb2, and ALL mail, for any recipient of any domain, is
# delivered into the single Maildir DIR/Maildir/. It never touches
# /etc/postfix or the system's default instance, and it cannot send anything
# off this machine (no relayhost, no DNS, default transport "error").
#
# It listens only on 127.0.0.1:$SMARTHOST_PORT (default 587) as a submission
# service: STARTTLS required, then AUTH PLAIN/LOGIN (Cyrus SASL, sasldb),
# and only authenticated clients may send.
#
# Environment (for start):
#   SMARTHOST_PORT      listening port on 127.0.0.1        (default 587)
#   SMARTHOST_USER      SASL user name                     (default outbox)
#   SMARTHOST_PASSWORD  SASL password                      (default outbox-test-password)
#   SMARTHOST_KEEP_MAIL set to 1 to keep DIR/Maildir and the queue across a
#                       (re)start; by default start begins with an empty
#                       Maildir and an empty queue.
#
# `start` prints, and writes to DIR/env (to be `source`d):
#   SMARTHOST_PORT, SMARTHOST_CA, SMARTHOST_MAILDIR, SMARTHOST_USER, SMARTHOST_PASSWORD
#
# Must run as root (Postfix's master runs as root and drops privileges).

set -euo pipefail

PACKAGES=(postfix sasl2-bin libsasl2-modules openssl ca-certificates)
SASL_REALM=localhost

die() { echo "postfix-smarthost: $*" >&2; exit 1; }
log() { echo "postfix-smarthost: $*" >&2; }

need_root() {
  [[ $(id -u) -eq 0 ]] || die "must run as root"
}

# ---------------------------------------------------------------------------
# install
# ---------------------------------------------------------------------------
cmd_install() {
  need_root
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    log "already installed: ${PACKAGES[*]}"
    return 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Preseed debconf so postfix installs without prompts and WITHOUT setting up
  # (or starting) a default instance: "No configuration" leaves
  # /etc/postfix/main.cf absent, so the system instance cannot interfere.
  debconf-set-selections <<'EOF'
postfix postfix/main_mailer_type select No configuration
postfix postfix/mailname string localhost
EOF
  log "installing: ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}" >/dev/null
  log "installed: ${missing[*]}"
}

# ---------------------------------------------------------------------------
# helpers for start/stop/status
# ---------------------------------------------------------------------------

# abs_dir DIR: absolute path of DIR (which need not exist yet).
abs_dir() {
  local d=$1
  [[ -n $d ]] || die "missing DIR argument"
  [[ $d == /* ]] || d="$PWD/$d"
  # strip trailing slashes (but keep "/")
  while [[ $d == */ && $d != / ]]; do d=${d%/}; done
  [[ $d != / ]] || die "refusing to use / as DIR"
  printf '%s\n' "$d"
}

# port_of DIR: the port the instance in DIR was configured with (falls back
# to $SMARTHOST_PORT / 587).
port_of() {
  local dir=$1 p=""
  if [[ -f $dir/env ]]; then
    p=$(sed -n 's/^SMARTHOST_PORT=//p' "$dir/env" | tr -d "'\"")
  fi
  printf '%s\n' "${p:-${SMARTHOST_PORT:-587}}"
}

# greets PORT: true iff 127.0.0.1:PORT answers with an SMTP 220 greeting
# within a few seconds. Uses bash's /dev/tcp, so no extra tools needed.
greets() {
  local port=$1 line=""
  (
    exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
    IFS= read -r -t 5 line <&3 || exit 1
    printf 'QUIT\r\n' >&3 || true
    exec 3>&- 3<&-
    [[ $line == 220* ]]
  ) 2>/dev/null
}

# port_open PORT: true iff something accepts connections on 127.0.0.1:PORT.
port_open() {
  ( exec 3<>"/dev/tcp/127.0.0.1/$1" ) 2>/dev/null
}

# master_pid DIR: pid of this instance's running master(8), or nothing.
master_pid() {
  local pidfile=$1/queue/pid/master.pid pid
  [[ -f $pidfile ]] || return 0
  pid=$(tr -dc '0-9' <"$pidfile")
  [[ -n $pid ]] || return 0
  # Make sure the pid is alive and really is a postfix master.
  if kill -0 "$pid" 2>/dev/null && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == master ]]; then
    printf '%s\n' "$pid"
  fi
}

# ---------------------------------------------------------------------------
# start
# ---------------------------------------------------------------------------
cmd_start() {
  need_root
  if ! command -v postfix >/dev/null || [[ ! -x /usr/sbin/postconf ]] || ! command -v saslpasswd2 >/dev/null; then
    die "postfix/sasl2-bin not installed: run '$0 install' first"
  fi

  local dir; dir=$(abs_dir "${1:-}")
  local port=${SMARTHOST_PORT:-587}
  local user=${SMARTHOST_USER:-outbox}
  local password=${SMARTHOST_PASSWORD:-outbox-test-password}
  [[ $port =~ ^[0-9]+$ ]] || die "bad SMARTHOST_PORT: $port"

  # A second start on a running instance restarts it cleanly (the config,
  # password or port may have changed).
  if [[ -n $(master_pid "$dir") ]]; then
    log "instance in $dir is running: restarting"
    cmd_stop "$dir"
  fi

  # Something else on the port would answer our readiness probe: refuse.
  if port_open "$port"; then
    die "127.0.0.1:$port is already in use by another process"
  fi

  # Cyrus SASL config dir: Debian's postfix (patch 07_sasl_config) makes
  # Cyrus read smtpd.conf from $config_directory/sasl, whatever
  # cyrus_sasl_config_path says, so it must live in DIR/etc/sasl (we set
  # cyrus_sasl_config_path to the same dir for non-Debian builds).
  local etc=$dir/etc queue=$dir/queue data=$dir/data tls=$dir/tls sasl=$dir/etc/sasl
  local maildir=$dir/Maildir logfile=$dir/postfix.log

  mkdir -p "$dir"
  chmod 0755 "$dir"
  # Every parent directory must be traversable by the unprivileged postfix
  # user (smtpd reads the sasldb, virtual writes the Maildir).
  local uid gid
  uid=$(id -u postfix) gid=$(id -g postfix)

  # Fresh state: config is regenerated on each start; the queue and Maildir
  # are emptied unless SMARTHOST_KEEP_MAIL=1.
  rm -rf "$etc" "$dir/env"
  if [[ ${SMARTHOST_KEEP_MAIL:-0} != 1 ]]; then
    rm -rf "$queue" "$maildir"
    : >"$logfile"
  fi
  mkdir -p "$etc" "$queue" "$data" "$tls" "$sasl" "$maildir"/{new,cur,tmp}
  chown root:root "$queue"; chmod 0755 "$queue"
  chown -R "$uid:$gid" "$maildir" "$data"
  chmod 0700 "$maildir" "$maildir"/{new,cur,tmp}
  touch "$logfile"

  # --- TLS: a test CA and a server cert for localhost / 127.0.0.1 ----------
  # Kept across restarts (so a CA path that a test already trusts stays
  # valid), regenerated when missing or no longer valid for an hour.
  if ! { [[ -s $tls/ca.pem && -s $tls/server.pem && -s $tls/server.key ]] \
         && openssl x509 -checkend 3600 -noout -in "$tls/server.pem" >/dev/null 2>&1 \
         && openssl verify -CAfile "$tls/ca.pem" "$tls/server.pem" >/dev/null 2>&1; }; then
    log "generating test CA and server certificate in $tls"
    rm -f "$tls"/*
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
      -subj "/CN=Outbox Test CA" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=localhost" \
      -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
    cat >"$tls/server.ext" <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
EOF
    openssl x509 -req -sha256 -days 825 -in "$tls/server.csr" \
      -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
      -extfile "$tls/server.ext" -out "$tls/server.pem" 2>/dev/null
    rm -f "$tls/server.csr" "$tls/server.ext" "$tls/ca.srl"
  fi
  chmod 0755 "$tls"; chmod 0644 "$tls/ca.pem" "$tls/server.pem"; chmod 0600 "$tls/server.key" "$tls/ca.key"

  # --- SASL: sasldb with one user, and Cyrus's smtpd.conf -------------------
  rm -f "$dir/sasldb2"*
  printf '%s' "$password" | saslpasswd2 -c -p -f "$dir/sasldb2" -u "$SASL_REALM" "$user"
  # smtpd runs as the postfix user: it must be able to read (and, for some
  # db backends, lock) the sasldb.
  chown postfix:postfix "$dir/sasldb2"*
  chmod 0640 "$dir/sasldb2"*
  cat >"$sasl/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $dir/sasldb2
mech_list: PLAIN LOGIN
EOF
  chmod 0755 "$sasl"; chmod 0644 "$sasl/smtpd.conf"

  # --- main.cf ----------------------------------------------------------------
  # Start from an empty main.cf (postconf -e creates/edits it); every value
  # not set here is Postfix's built-in default, not Debian's /etc/postfix.
  : >"$etc/main.cf"
  local settings=(
    "compatibility_level = 3.6"
    "queue_directory = $queue"
    "data_directory = $data"
    "mail_owner = postfix"
    "setgid_group = postdrop"
    "myhostname = localhost"
    "mydomain = localdomain"
    "myorigin = \$myhostname"
    "inet_interfaces = 127.0.0.1"
    "inet_protocols = ipv4"
    "mynetworks = 127.0.0.0/8"
    "maillog_file = $logfile"
    "maillog_file_prefixes = $dir"
    "alias_maps ="
    "alias_database ="
    "biff = no"
    "smtpd_banner = \$myhostname ESMTP Outbox test smarthost (Postfix)"
    # --- deliver what the client sent, untouched: no header rewriting, no
    #     added Date:/Message-ID:/From: (tests must see Outbox's own
    #     headers), no 8bit->7bit conversion ---
    "local_header_rewrite_clients ="
    "remote_header_rewrite_domain ="
    "always_add_missing_headers = no"
    "disable_mime_output_conversion = yes"
    # --- nothing may ever leave this machine ---
    "relayhost ="
    "relay_domains ="
    "mydestination ="
    "local_transport = error:local delivery disabled"
    "default_transport = error:outbound delivery disabled in test smarthost"
    "relay_transport = error:outbound delivery disabled in test smarthost"
    "smtp_dns_support_level = disabled"
    "lmtp_dns_support_level = disabled"
    "smtpd_peername_lookup = no"
    # --- every recipient of every domain -> DIR/Maildir/ ---
    "virtual_mailbox_domains = static:all"
    "virtual_mailbox_base = $dir"
    "virtual_mailbox_maps = static:Maildir/"
    "virtual_uid_maps = static:$uid"
    "virtual_gid_maps = static:$gid"
    "virtual_transport = virtual"
    "virtual_mailbox_limit = 0"
    "mailbox_size_limit = 0"
    # --- TLS: required before anything else ---
    "smtpd_tls_cert_file = $tls/server.pem"
    "smtpd_tls_key_file = $tls/server.key"
    "smtpd_tls_security_level = encrypt"
    "smtpd_tls_auth_only = yes"
    "smtpd_tls_loglevel = 1"
    "smtpd_tls_received_header = yes"
    "smtpd_tls_session_cache_database ="
    # --- SASL: Cyrus, sasldb, PLAIN + LOGIN ---
    "smtpd_sasl_auth_enable = yes"
    "smtpd_sasl_type = cyrus"
    "smtpd_sasl_path = smtpd"
    "cyrus_sasl_config_path = $sasl"
    "smtpd_sasl_local_domain = $SASL_REALM"
    "smtpd_sasl_security_options = noanonymous"
    "smtpd_sasl_tls_security_options = noanonymous"
    "smtpd_sasl_authenticated_header = yes"
    # --- only authenticated clients may send ---
    "smtpd_relay_restrictions = permit_sasl_authenticated, reject"
    # --- like most real smarthosts, refuse senders and recipients that are not fully qualified
    #     (504 5.5.2 <root@vm>: Sender address rejected: need fully-qualified address) ---
    "smtpd_recipient_restrictions = reject_non_fqdn_sender, reject_non_fqdn_recipient, permit_sasl_authenticated, reject"
    "smtpd_client_restrictions ="
    "smtpd_helo_restrictions ="
    # --- like most real smarthosts: an unqualified sender (user@vm) is refused, at RCPT time
    #     (smtpd_delay_reject): "504 5.5.2 <user@vm>: Sender address rejected: need
    #     fully-qualified address" ---
    "smtpd_sender_restrictions = reject_non_fqdn_sender"
    # --- generous limits for benchmarks ---
    "message_size_limit = 104857600"
    "smtpd_recipient_limit = 10000"
    "smtpd_client_connection_count_limit = 0"
    "smtpd_client_connection_rate_limit = 0"
    "smtpd_client_message_rate_limit = 0"
    "smtpd_client_recipient_rate_limit = 0"
    "smtpd_client_new_tls_session_rate_limit = 0"
    "smtpd_client_auth_rate_limit = 0"
    "smtpd_client_event_limit_exceptions = 127.0.0.0/8"
    "anvil_rate_time_unit = 60s"
    "default_process_limit = 200"
    "in_flow_delay = 0"
    "smtpd_error_sleep_time = 0"
    "smtpd_soft_error_limit = 1000"
    "smtpd_hard_error_limit = 1000"
    "smtpd_junk_command_limit = 10000"
    "virtual_destination_concurrency_limit = 50"
    "virtual_destination_recipient_limit = 1"
    "queue_run_delay = 5s"
    "minimal_backoff_time = 5s"
    "maximal_backoff_time = 30s"
  )
  /usr/sbin/postconf -c "$etc" -e "${settings[@]}"

  # --- master.cf --------------------------------------------------------------
  # Only the services we need; chroot is OFF everywhere ("n" in column 5) so
  # smtpd can read the sasldb and the TLS files in DIR.
  cat >"$etc/master.cf" <<EOF
# Generated by scripts/test/postfix-smarthost.sh — private test smarthost.
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:$port inet n  -       n       -       100     smtpd
  -o syslog_name=postfix/submission
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF

  # --- start ----------------------------------------------------------------
  # "postfix start" runs postfix-script's check-fatal, which also creates the
  # queue and data directory trees with the right owners (create-missing).
  if ! postfix -c "$etc" start >>"$logfile" 2>&1; then
    tail -n 20 "$logfile" >&2
    die "postfix start failed (see $logfile)"
  fi

  # Bounded wait (30 s) for the 220 greeting.
  local deadline=$((SECONDS + 30))
  until greets "$port"; do
    if (( SECONDS >= deadline )); then
      tail -n 20 "$logfile" >&2
      die "no 220 greeting on 127.0.0.1:$port after 30 s (see $logfile)"
    fi
    sleep 0.2
  done

  # --- report -----------------------------------------------------------------
  # Values are shell-quoted (printf %q) so DIR/env can be `source`d safely.
  q() { printf '%q' "$1"; }
  {
    echo "SMARTHOST_PORT=$port"
    echo "SMARTHOST_CA=$(q "$tls/ca.pem")"
    echo "SMARTHOST_MAILDIR=$(q "$maildir")"
    echo "SMARTHOST_USER=$(q "$user")"
    echo "SMARTHOST_PASSWORD=$(q "$password")"
  } >"$dir/env.tmp"
  chmod 0644 "$dir/env.tmp"
  mv -f "$dir/env.tmp" "$dir/env"
  cat "$dir/env"
}

# ---------------------------------------------------------------------------
# stop
# ---------------------------------------------------------------------------
cmd_stop() {
  need_root
  local dir; dir=$(abs_dir "${1:-}")
  local pid; pid=$(master_pid "$dir")
  if [[ -z $pid ]]; then
    log "instance in $dir is not running"
    return 0
  fi
  postfix -c "$dir/etc" stop >>"$dir/postfix.log" 2>&1 || true
  # Bounded wait (15 s) for the master to exit, then force it.
  local deadline=$((SECONDS + 15))
  while kill -0 "$pid" 2>/dev/null; do
    if (( SECONDS >= deadline )); then
      log "master $pid did not exit in 15 s: aborting"
      postfix -c "$dir/etc" abort >>"$dir/postfix.log" 2>&1 || kill -KILL "$pid" 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 0.2
  done
  # Wait (bounded) until the port no longer answers, so a restart can bind.
  local port; port=$(port_of "$dir")
  deadline=$((SECONDS + 10))
  while port_open "$port" && (( SECONDS < deadline )); do sleep 0.2; done
  log "stopped instance in $dir"
}

# ---------------------------------------------------------------------------
# status
# ---------------------------------------------------------------------------
cmd_status() {
  local dir; dir=$(abs_dir "${1:-}")
  local port; port=$(port_of "$dir")
  if greets "$port"; then
    echo "running: 127.0.0.1:$port answers (master pid $(master_pid "$dir"))"
    return 0
  fi
  echo "not running: nothing answers 220 on 127.0.0.1:$port"
  return 1
}

main() {
  local cmd=${1:-}
  shift || true
  case $cmd in
    install) cmd_install "$@" ;;
    start)   cmd_start "$@" ;;
    stop)    cmd_stop "$@" ;;
    status)  cmd_status "$@" ;;
    *) echo "usage: $0 {install|start DIR|stop DIR|status DIR}" >&2; exit 2 ;;
  esac
}

main "$@"
