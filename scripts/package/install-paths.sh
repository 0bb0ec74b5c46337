# scripts/package/install-paths.sh — where install.sh puts things and uninstall.sh finds them (sourced by both).
SBIN=/usr/local/sbin
BIN="$SBIN/outbox"
# The slim variant (install.sh --slim): the launcher, bundle and configure-node; BIN links to it.
LIBDIR=/usr/local/lib/outbox
SPOOL=/var/spool/outbox
ETC=/etc/outbox
UNITDIR=/etc/systemd/system
STATE_DIR=/var/lib/outbox
STATE="$STATE_DIR/install.state"
# /usr/local/bin/outbox: the user-facing command on an ordinary user's PATH (Debian's has neither
# /usr/sbin nor /usr/local/sbin), as mailq is in /usr/bin.
LINKS="/usr/sbin/sendmail /usr/bin/mailq /usr/bin/newaliases /usr/local/bin/outbox"
BACKUP_SUFFIX=.pre-outbox
MANDIR=/usr/local/share/man
MANPAGES="man1/mailq.1 man5/outbox.conf.5 man8/outbox.8 man8/sendmail.8 man8/newaliases.8"
