#!/bin/sh
# scripts/package/uninstall.sh — undo scripts/package/install.sh (run as root). See docs/installation.md.
#
#   scripts/package/uninstall.sh [--purge]
#
# Stops and removes the systemd units, removes /usr/local/sbin/outbox (and the slim variant's
# /usr/local/lib/outbox) and the sendmail, mailq,
# newaliases and /usr/local/bin/outbox links, and puts back what was there before
# (FILE.pre-outbox, or the dpkg-diversion of a package's file). Keeps the queue
# (/var/spool/outbox), the configuration (/etc/outbox) and the `outbox` user, unless --purge:
# then those go too (the user and group only if install.sh created them). Idempotent.
set -eu

# shellcheck source=install-paths.sh
. "$(dirname "$0")/install-paths.sh"

purge=0
for a in "$@"; do
  case "$a" in
    --purge) purge=1 ;;
    # The header comment is the usage: print it without the comment marks, up to the code.
    -h|--help) sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p;}' "$0"; exit 0 ;;
    *) echo "uninstall.sh: unknown option $a (see --help)" >&2; exit 64 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "uninstall.sh: run as root" >&2; exit 77; }
say() { echo "uninstall.sh: $*"; }
state_has() { [ -f "$STATE" ] && grep -qxF "$1" "$STATE"; }

# 1. Services.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now outbox.service outbox-queue.timer outbox-queue.service 2>/dev/null || true
fi
units_removed=0
for u in outbox.service outbox-queue.service outbox-queue.timer; do
  if [ -f "$UNITDIR/$u" ] && grep -q 'outbox' "$UNITDIR/$u"; then
    rm -f "$UNITDIR/$u"
    units_removed=1
    say "removed $UNITDIR/$u"
  fi
done
if [ "$units_removed" -eq 1 ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemctl daemon-reload
fi

# 2. Links, and what was there before.
for f in $LINKS; do
  if [ -L "$f" ] && [ "$(readlink "$f")" = "$BIN" ]; then
    rm -f "$f"
    say "removed $f"
  fi
  if [ "$(dpkg-divert --listpackage "$f" 2>/dev/null)" = LOCAL ] && [ "$(dpkg-divert --truename "$f" 2>/dev/null)" = "$f$BACKUP_SUFFIX" ]; then
    dpkg-divert --quiet --local --rename --remove "$f"
    say "restored $f (package file, diversion removed)"
  elif [ -e "$f$BACKUP_SUFFIX" ] || [ -L "$f$BACKUP_SUFFIX" ]; then
    if [ -e "$f" ] || [ -L "$f" ]; then
      say "$f exists and is not ours: leaving $f$BACKUP_SUFFIX in place"
    else
      mv "$f$BACKUP_SUFFIX" "$f"
      say "restored $f"
    fi
  fi
done

# 3. The executable (or the link to the slim variant's launcher, and its files).
if [ -e "$BIN" ] || [ -L "$BIN" ]; then
  rm -f "$BIN"
  say "removed $BIN"
fi
if [ -f "$LIBDIR/slim.cjs" ]; then
  rm -rf "$LIBDIR"
  say "removed $LIBDIR"
fi

# 3b. Manual pages.
for page in $MANPAGES; do
  if [ -f "$MANDIR/$page" ] && grep -q 'Outbox Manual' "$MANDIR/$page"; then
    rm -f "$MANDIR/$page"
    say "removed $MANDIR/$page"
  fi
done

# 4. Queue, configuration, user: only with --purge.
if [ "$purge" -eq 1 ]; then
  if [ -d "$SPOOL" ]; then rm -rf "$SPOOL"; say "removed $SPOOL (queue purged)"; fi
  if [ -d "$ETC" ]; then rm -rf "$ETC"; say "removed $ETC"; fi
  if state_has "user outbox" && getent passwd outbox >/dev/null; then userdel outbox; say "removed user outbox"; fi
  if state_has "group outbox" && getent group outbox >/dev/null; then groupdel outbox; say "removed group outbox"; fi
  rm -rf "$STATE_DIR"
else
  # Forget the links (undone above); remember the user, group and spool for a later --purge.
  if [ -f "$STATE" ]; then grep -E '^(user|group|spool|etc) ' "$STATE" > "$STATE.new" || true; mv -f "$STATE.new" "$STATE"; fi
  if [ -d "$SPOOL/ctl" ]; then
    n=$(find "$SPOOL/ctl" -maxdepth 1 -type f | wc -l)
    say "kept the queue $SPOOL ($n message(s)), $ETC and the user outbox; --purge removes them"
  fi
fi
say "done"
