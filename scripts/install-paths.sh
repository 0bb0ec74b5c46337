# scripts/install-paths.sh — where install.sh puts things and uninstall.sh finds them (sourced by both).
SBIN=/usr/local/sbin
BIN="$SBIN/outbox"
SPOOL=/var/spool/outbox
ETC=/etc/outbox
UNITDIR=/etc/systemd/system
STATE_DIR=/var/lib/outbox
STATE="$STATE_DIR/install.state"
LINKS="/usr/sbin/sendmail /usr/bin/mailq /usr/bin/newaliases"
BACKUP_SUFFIX=.pre-outbox
