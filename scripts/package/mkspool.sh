#!/bin/sh
# scripts/package/mkspool.sh SPOOL OWNER GROUP — create (or repair) a system spool with the owners and
# modes of docs/privilege-model.md. Idempotent; never removes anything. Used by install.sh, the
# Debian package's postinst (shipped as /usr/lib/outbox/mkspool) and the privilege tests.
#
#   SPOOL            OWNER:GROUP 0711  others may traverse (to reach incoming/ and run/query.sock)
#   SPOOL/tmp msg ctl lock   OWNER:GROUP 0700  the queue: only the runner reads or writes it
#   SPOOL/run        OWNER:GROUP 0711  daemon.pid and query.sock (names known, not listable)
#   SPOOL/incoming   OWNER:GROUP 1733  drop directory: anyone creates, only OWNER lists,
#                                      sticky: nobody removes another user's entries
#
# Runs as root inside a directory that OWNER may write (SPOOL): a compromised OWNER could swap a
# subdirectory for a symbolic link at any moment, so nothing here follows one. mkdir(2) does not
# follow a symlink in the last component, and ownership and mode are set with fchown/fchmod on a
# descriptor opened with O_NOFOLLOW|O_DIRECTORY (perl-base is Essential on Debian): whatever is at
# the name when it is opened is what gets changed, and a symlink is refused (exit 73), never its
# target. (Testing with -L and then running chown/chmod on the path left a window between them.)
set -eu
if [ "$#" -ne 3 ]; then
  echo "usage: mkspool.sh SPOOL OWNER GROUP" >&2
  exit 64
fi
spool=$1 owner=$2 group=$3
uid=$(id -u "$owner")
gid=$(getent group "$group" | cut -d: -f3)
if [ -z "$gid" ]; then echo "mkspool: no group $group" >&2; exit 67; fi
mk() { # mk DIR MODE
  mkdir "$1" 2>/dev/null || true
  perl -MFcntl -e '
    my ($dir, $uid, $gid, $mode) = @ARGV;
    unless (sysopen(my $fh, $dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)) {
      my $why = ($!{ELOOP} || -l $dir) ? "is a symbolic link" : $!{ENOTDIR} ? "is not a directory" : "$!";
      print STDERR "mkspool: $dir $why; refusing\n";
      exit 73;
    } else {
      chown($uid, $gid, $fh) or do { print STDERR "mkspool: chown $dir: $!\n"; exit 73 };
      chmod(oct($mode), $fh) or do { print STDERR "mkspool: chmod $dir: $!\n"; exit 73 };
    }' "$1" "$uid" "$gid" "$2"
}
mkdir -p "$(dirname "$spool")"
mk "$spool" 0711
for d in tmp msg ctl lock; do mk "$spool/$d" 0700; done
mk "$spool/run" 0711
mk "$spool/incoming" 1733
