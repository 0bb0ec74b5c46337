#!/bin/sh
# scripts/mkspool.sh SPOOL OWNER GROUP — create (or repair) a system spool with the owners and
# modes of README "Privilege model". Idempotent; never removes anything. Used by install.sh, the
# Debian package's postinst (shipped as /usr/lib/outbox/mkspool) and the privilege tests.
#
#   SPOOL            OWNER:GROUP 0711  others may traverse (to reach incoming/ and run/query.sock)
#   SPOOL/tmp msg ctl lock   OWNER:GROUP 0700  the queue: only the runner reads or writes it
#   SPOOL/run        OWNER:GROUP 0711  daemon.pid and query.sock (names known, not listable)
#   SPOOL/incoming   OWNER:GROUP 1733  drop directory: anyone creates, only OWNER lists,
#                                      sticky: nobody removes another user's entries
set -eu
if [ "$#" -ne 3 ]; then
  echo "usage: mkspool.sh SPOOL OWNER GROUP" >&2
  exit 64
fi
spool=$1 owner=$2 group=$3
mk() { # mk DIR MODE
  if [ -L "$1" ]; then echo "mkspool: $1 is a symbolic link; refusing" >&2; exit 73; fi
  [ -d "$1" ] || mkdir -p "$1"
  chown "$owner:$group" "$1"
  chmod "$2" "$1"
}
mk "$spool" 0711
for d in tmp msg ctl lock; do mk "$spool/$d" 0700; done
mk "$spool/run" 0711
mk "$spool/incoming" 1733
