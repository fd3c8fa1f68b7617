#!/usr/bin/env bash
# loopback-sshd.sh: a throwaway OpenSSH server on loopback addresses, for the fleet tests and
# the loopback demo (scripts/fleet-loopback.sh). Nothing outside DIR is changed but
# /run/sshd (the privilege-separation folder sshd requires).
#
#   loopback-sshd.sh start DIR ADDR[,ADDR...]   # e.g. 127.0.0.1,127.0.0.2
#   loopback-sshd.sh stop DIR
#
# start: makes a host key and a client key (DIR/id_ed25519) that only this server accepts,
# starts sshd on a free port of those addresses, writes DIR/known_hosts for them and
# DIR/port, and prints the port. Logins are for the current user, by key only. Restarting
# with other addresses keeps the keys and port. stop: ends that sshd (by its pid file).
set -euo pipefail

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 2; }
sshd=$(command -v sshd || echo /usr/sbin/sshd)

stop() {
  if [ -f "$dir/sshd.pid" ]; then
    pid=$(cat "$dir/sshd.pid")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$dir/sshd.pid"
  fi
}

case "$cmd" in
  stop) stop; exit 0 ;;
  start) ;;
  *) echo "loopback-sshd.sh: unknown command $cmd (start or stop)" >&2; exit 2 ;;
esac
addrs=${3:?loopback-sshd.sh start DIR ADDR[,ADDR...]}
[ -x "$sshd" ] || { echo "loopback-sshd.sh: no sshd; install Debian's openssh-server (scripts/install-fleet-deps.sh)" >&2; exit 2; }
for a in ${addrs//,/ }; do
  case "$a" in 127.*) ;; *) echo "loopback-sshd.sh: $a is not a loopback address (127.0.0.0/8)" >&2; exit 2 ;; esac
done

mkdir -p "$dir"; dir=$(cd "$dir" && pwd); chmod 700 "$dir"
stop
[ -f "$dir/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C ternbench-loopback-host -f "$dir/host_ed25519"
[ -f "$dir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C ternbench-loopback-client -f "$dir/id_ed25519"
cp "$dir/id_ed25519.pub" "$dir/authorized_keys"; chmod 600 "$dir/authorized_keys"
if [ ! -f "$dir/port" ]; then
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' >"$dir/port"
fi
port=$(cat "$dir/port")
{
  echo "Port $port"
  for a in ${addrs//,/ }; do echo "ListenAddress $a"; done
  echo "HostKey $dir/host_ed25519"
  echo "PidFile $dir/sshd.pid"
  echo "AuthorizedKeysFile $dir/authorized_keys"
  echo "AllowUsers $(id -un)"
  echo "PermitRootLogin prohibit-password"
  echo "PasswordAuthentication no"
  echo "KbdInteractiveAuthentication no"
  echo "UsePAM no"
  echo "StrictModes no"
  echo "Subsystem sftp internal-sftp"
  echo "LogLevel ERROR"
} >"$dir/sshd_config"
: >"$dir/known_hosts"
for a in ${addrs//,/ }; do echo "[$a]:$port $(cut -d' ' -f1,2 "$dir/host_ed25519.pub")" >>"$dir/known_hosts"; done
mkdir -p /run/sshd 2>/dev/null || true
"$sshd" -f "$dir/sshd_config" -E "$dir/sshd.log"
for _ in $(seq 50); do [ -s "$dir/sshd.pid" ] && break; sleep 0.1; done
[ -s "$dir/sshd.pid" ] || { echo "loopback-sshd.sh: sshd did not start:" >&2; cat "$dir/sshd.log" >&2; exit 1; }
first=${addrs%%,*}
ssh -q -p "$port" -i "$dir/id_ed25519" -o UserKnownHostsFile="$dir/known_hosts" -o BatchMode=yes \
  -o ConnectTimeout=5 "$(id -un)@$first" true ||
  { echo "loopback-sshd.sh: sshd started but a login to $first:$port failed:" >&2; cat "$dir/sshd.log" >&2; exit 1; }
echo "$port"
