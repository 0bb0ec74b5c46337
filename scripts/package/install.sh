#!/bin/sh
# scripts/package/install.sh — install Outbox as this machine's sendmail (run as root; idempotent: a
# second run changes nothing and says so). See docs/installation.md.
#
#   scripts/package/install.sh [--slim] [--force] [--timer | --no-service]
#
#   --slim        the slim variant on the system's Node (>= 20) instead of the single
#                 executable: build/slim/ -> /usr/local/lib/outbox, /usr/local/sbin/outbox a
#                 symlink to its launcher (docs/installation.md "Slim variant"); without --slim, a slim
#                 installation is replaced by the executable
#   --force       also replace a sendmail/mailq/newaliases that a Debian package owns (Postfix,
#                 Exim, ...): the package's file is moved aside with dpkg-divert, so package
#                 upgrades cannot overwrite ours and uninstall.sh puts it back
#   --timer       enable outbox-queue.timer (a queue run every 5 minutes) instead of the daemon
#   --no-service  install the systemd units but enable neither
#
# What it does, each step only when needed:
#   build/outbox (built first if missing)    -> /usr/local/sbin/outbox
#   or with --slim: build/slim/* -> /usr/local/lib/outbox/ (then its configure-node), and
#       /usr/local/sbin/outbox -> /usr/local/lib/outbox/outbox
#   /usr/sbin/sendmail, /usr/bin/mailq, /usr/bin/newaliases -> symlinks to it; an existing file
#       that is not ours is kept as FILE.pre-outbox (dpkg-divert for package-owned files)
#   /usr/local/bin/outbox -> the same: `outbox queue`, `mailq` on an ordinary user's PATH
#   system user and group `outbox` (no login shell, home = the spool)
#   /var/spool/outbox with its owners and modes (scripts/package/mkspool.sh)
#   /etc/outbox/outbox.conf (0644, outbox.conf.example with its settings commented out) if
#       absent; never overwritten; the example itself as /etc/outbox/outbox.conf.example
#   the manual pages sendmail(8), mailq(1), newaliases(8), outbox(8), outbox.conf(5) in
#       /usr/local/share/man
#   /etc/systemd/system/outbox.service, outbox-queue.service, outbox-queue.timer
#   /var/lib/outbox/install.state: what this script created, for uninstall.sh
set -eu

# shellcheck source=install-paths.sh
. "$(dirname "$0")/install-paths.sh"

force=0
slim=0
service=daemon
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    --slim) slim=1 ;;
    --timer) service=timer ;;
    --no-service) service=none ;;
    # The header comment is the usage: print it without the comment marks, up to the code.
    -h|--help) sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p;}' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $a (see --help)" >&2; exit 64 ;;
  esac
done

[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root" >&2; exit 77; }
here=$(cd "$(dirname "$0")/../.." && pwd)
changes=0
say() { echo "install.sh: $*"; }
changed() { say "$*"; changes=$((changes + 1)); }
state_has() { [ -f "$STATE" ] && grep -qxF "$1" "$STATE"; }
state_add() {
  mkdir -p "$STATE_DIR"; chmod 0755 "$STATE_DIR"
  state_has "$1" || echo "$1" >> "$STATE"
}

# Is FILE a link to our binary (or the binary itself)?
is_ours() { [ -L "$1" ] && [ "$(readlink "$1")" = "$BIN" ]; }
# The package owning FILE, if any (dpkg -S prints "pkg: path"; diversions print "diversion by").
owner_pkg() {
  command -v dpkg >/dev/null 2>&1 || return 0
  dpkg -S "$1" 2>/dev/null | grep -v '^diversion by' | head -n1 | cut -d: -f1
}

# 1. Preflight: refuse before changing anything.
for f in $LINKS; do
  if is_ours "$f" || { [ ! -e "$f" ] && [ ! -L "$f" ]; }; then continue; fi
  pkg=$(owner_pkg "$f")
  if [ -n "$pkg" ] && [ "$force" -ne 1 ]; then
    echo "install.sh: $f belongs to the package '$pkg'. Remove that MTA first (apt remove $pkg)," >&2
    echo "install.sh: install the Debian package (scripts/package/build-deb), or run again with --force to divert it." >&2
    exit 73
  fi
done

# The slim variant needs Node (>= 20): refuse before changing anything.
if [ "$slim" -eq 1 ]; then
  node_bin=$(for n in /usr/bin/node /usr/local/bin/node; do [ -x "$n" ] && { echo "$n"; break; }; done)
  [ -n "$node_bin" ] || node_bin=$(command -v node) || { echo "install.sh: --slim needs Node.js (>= 20) (apt install nodejs), or install the executable (without --slim)" >&2; exit 69; }
  major=$("$node_bin" -p 'process.versions.node.split(".")[0]' 2>/dev/null </dev/null || echo 0)
  [ "$major" -ge 20 ] 2>/dev/null || { echo "install.sh: --slim needs Node.js >= 20; $node_bin is $("$node_bin" --version 2>/dev/null)" >&2; exit 69; }
fi

# 2. The executable (or the slim variant's files and a link to its launcher).
if [ "$slim" -eq 1 ]; then
  if [ ! -x "$here/build/slim/outbox" ]; then
    say "building build/slim (node scripts/build/build.mjs)"
    (cd "$here" && node scripts/build/build.mjs) >&2
  fi
  mkdir -p "$LIBDIR"
  lib_changed=0
  for f in outbox configure-node slim.cjs outbox.cjs; do
    if [ -f "$LIBDIR/$f" ] && cmp -s "$here/build/slim/$f" "$LIBDIR/$f"; then continue; fi
    cp "$here/build/slim/$f" "$LIBDIR/$f.new.$$"
    chown root:root "$LIBDIR/$f.new.$$"
    case "$f" in *.cjs) chmod 0644 "$LIBDIR/$f.new.$$" ;; *) chmod 0755 "$LIBDIR/$f.new.$$" ;; esac
    mv -f "$LIBDIR/$f.new.$$" "$LIBDIR/$f"
    lib_changed=1
    changed "installed $LIBDIR/$f"
  done
  # node-flags: made for this machine's node; again after a Node upgrade (node newer than it).
  if [ "$lib_changed" -eq 1 ] || [ ! -f "$LIBDIR/node-flags" ] || [ "$node_bin" -nt "$LIBDIR/node-flags" ]; then
    "$LIBDIR/configure-node" "$LIBDIR" >/dev/null
    changed "wrote $LIBDIR/node-flags ($(cat "$LIBDIR/node-flags"))"
  fi
  if ! { [ -L "$BIN" ] && [ "$(readlink "$BIN")" = "$LIBDIR/outbox" ]; }; then
    mkdir -p "$SBIN"
    ln -sfn "$LIBDIR/outbox" "$BIN.new.$$"
    mv -fT "$BIN.new.$$" "$BIN"
    changed "linked $BIN -> $LIBDIR/outbox (slim variant)"
  fi
else
  if [ ! -x "$here/build/outbox" ]; then
    say "building build/outbox (node scripts/build/build.mjs)"
    (cd "$here" && node scripts/build/build.mjs) >&2
  fi
  if [ -f "$BIN" ] && [ ! -L "$BIN" ] && cmp -s "$here/build/outbox" "$BIN"; then
    :
  else
    mkdir -p "$SBIN"
    cp "$here/build/outbox" "$BIN.new.$$"
    chown root:root "$BIN.new.$$"
    chmod 0755 "$BIN.new.$$"
    mv -f "$BIN.new.$$" "$BIN"
    changed "installed $BIN"
  fi
  if [ -f "$LIBDIR/slim.cjs" ]; then
    rm -rf "$LIBDIR"
    changed "removed the slim variant's $LIBDIR"
  fi
fi

# 3. sendmail, mailq, newaliases, and outbox on the users' PATH.
for f in $LINKS; do
  is_ours "$f" && continue
  if [ -e "$f" ] || [ -L "$f" ]; then
    pkg=$(owner_pkg "$f")
    if [ -n "$pkg" ]; then
      dpkg-divert --quiet --local --rename --divert "$f$BACKUP_SUFFIX" --add "$f"
      state_add "diverted $f"
      changed "diverted $f (package $pkg) to $f$BACKUP_SUFFIX"
    else
      mv -f "$f" "$f$BACKUP_SUFFIX"
      state_add "backup $f"
      changed "kept the previous $f as $f$BACKUP_SUFFIX"
    fi
  fi
  mkdir -p "$(dirname "$f")"
  ln -sfn "$BIN" "$f"
  state_add "link $f"
  changed "linked $f -> $BIN"
done

# 4. The runner's user and group.
if ! getent group outbox >/dev/null; then
  groupadd --system outbox
  state_add "group outbox"
  changed "created group outbox"
fi
if ! getent passwd outbox >/dev/null; then
  useradd --system --gid outbox --home-dir "$SPOOL" --no-create-home --shell /usr/sbin/nologin --comment "Outbox mail queue runner" outbox
  state_add "user outbox"
  changed "created user outbox"
fi

# 5. The spool: owners and modes as docs/privilege-model.md describes (mkspool.sh).
spool_before=$(stat -c '%n %U:%G %a' "$SPOOL" "$SPOOL"/tmp "$SPOOL"/msg "$SPOOL"/ctl "$SPOOL"/lock "$SPOOL"/run "$SPOOL"/incoming 2>/dev/null || true)
[ -d "$SPOOL" ] || state_add "spool $SPOOL"
sh "$here/scripts/package/mkspool.sh" "$SPOOL" outbox outbox
spool_after=$(stat -c '%n %U:%G %a' "$SPOOL" "$SPOOL"/tmp "$SPOOL"/msg "$SPOOL"/ctl "$SPOOL"/lock "$SPOOL"/run "$SPOOL"/incoming)
[ "$spool_before" = "$spool_after" ] || changed "spool $SPOOL: owners and modes set"

# 6. Configuration: readable by every submitter, holds no secrets; never overwritten.
if [ ! -d "$ETC" ]; then
  mkdir -p "$ETC"
  chmod 0755 "$ETC"
  state_add "etc $ETC"
  changed "created $ETC"
fi
install_file() { # install_file SRC DEST MODE: copy when different
  if [ -f "$2" ] && cmp -s "$1" "$2"; then return 0; fi
  cp "$1" "$2.new.$$" && chmod "$3" "$2.new.$$" && mv -f "$2.new.$$" "$2"
  changed "installed $2"
}
if [ -f "$here/outbox.conf.example" ]; then
  install_file "$here/outbox.conf.example" "$ETC/outbox.conf.example" 0644
fi
if [ ! -e "$ETC/outbox.conf" ]; then
  # The example's settings (relays, host names) are samples: every setting line is commented
  # out, so a fresh install runs on the defaults until the admin edits it.
  {
    echo "# /etc/outbox/outbox.conf — Outbox configuration (TOML). Every key is optional."
    echo "# Readable by every user who sends mail: no secrets here. Put a relay password in a file"
    echo "# only the runner can read, e.g. /etc/outbox/relay.password (root:outbox, mode 0640)."
    echo "# Created by install.sh from outbox.conf.example, with every setting commented out."
    echo
    if [ -f "$here/outbox.conf.example" ]; then
      sed 's/^\([[:space:]]*[^#[:space:]]\)/# \1/' "$here/outbox.conf.example"
    else
      printf '# domain = "example.com"\n#\n# [relay.main]\n# url = "smtp+starttls://user@smtp.example.com:587"\n# password_file = "/etc/outbox/relay.password"\n'
    fi
  } > "$ETC/outbox.conf.new.$$"
  chmod 0644 "$ETC/outbox.conf.new.$$"
  mv "$ETC/outbox.conf.new.$$" "$ETC/outbox.conf"
  changed "created $ETC/outbox.conf"
fi

# 6b. Manual pages (built into build/man/ from docs/man/ by scripts/build/build.mjs).
for page in $MANPAGES; do
  if [ -f "$here/build/man/${page#*/}" ]; then
    mkdir -p "$MANDIR/${page%%/*}"
    install_file "$here/build/man/${page#*/}" "$MANDIR/$page" 0644
  fi
done

# 7. systemd units (the daemon, and the timer alternative).
tmpdir=$(mktemp -d)
trap 'rm -rf "$tmpdir"' EXIT
for u in outbox.service outbox-queue.service; do
  sed "s|@SBIN@|$SBIN|g" "$here/scripts/package/systemd/$u.in" > "$tmpdir/$u"
done
cp "$here/scripts/package/systemd/outbox-queue.timer" "$tmpdir/outbox-queue.timer"
units_changed=0
if [ -d "$(dirname "$UNITDIR")" ]; then
  mkdir -p "$UNITDIR"
  for u in outbox.service outbox-queue.service outbox-queue.timer; do
    before=$changes
    install_file "$tmpdir/$u" "$UNITDIR/$u" 0644
    [ "$changes" -eq "$before" ] || units_changed=1
    state_add "unit $UNITDIR/$u"
  done
fi
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  [ "$units_changed" -eq 0 ] || systemctl daemon-reload
  case "$service" in
    daemon) unit=outbox.service ;;
    timer) unit=outbox-queue.timer ;;
    *) unit= ;;
  esac
  if [ -n "$unit" ] && ! systemctl is-enabled --quiet "$unit" 2>/dev/null; then
    systemctl enable --now "$unit"
    changed "enabled and started $unit"
  elif [ -n "$unit" ] && [ "$units_changed" -eq 1 ]; then
    systemctl try-restart "$unit"
  fi
else
  say "systemd is not running here: start the daemon yourself (setpriv --reuid=outbox --regid=outbox --init-groups -- $BIN -bd), or run the queue from cron (/etc/cron.d/outbox: */5 * * * * outbox $BIN -q); see docs/installation.md, \"Without systemd\""
fi

if [ "$changes" -eq 0 ]; then say "nothing to change (0 changes)"; else say "$changes changes"; fi
