#!/usr/bin/env bash
# slurm-cluster.sh: a throwaway one-node Slurm cluster (slurmctld + slurmd + munged from
# Debian's packages) in a folder, for the fleet tests. Loopback only; nothing outside DIR is
# changed. Needs root (slurmd runs jobs as their user) and scripts/install-fleet-deps.sh --slurm.
#
#   slurm-cluster.sh start DIR     # prints the SLURM_CONF path to export
#   slurm-cluster.sh stop DIR
#
# The node is this machine (its short hostname, 127.0.0.1, every CPU), in partition `fleet`;
# process tracking without cgroups (proctrack/linuxproc, task/none), no accounting database.
set -euo pipefail
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 2; }

stop_pid() {
  local f=$1
  [ -f "$f" ] || return 0
  local pid; pid=$(cat "$f")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}
stop() {
  stop_pid "$dir/slurmd.pid"
  stop_pid "$dir/slurmctld.pid"
  stop_pid "$dir/munged.pid"
}
case "$cmd" in
  stop) [ -d "$dir" ] && stop; exit 0 ;;
  start) ;;
  *) echo "slurm-cluster.sh: unknown command $cmd (start or stop)" >&2; exit 2 ;;
esac
for b in munged slurmctld slurmd sbatch; do
  command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] ||
    { echo "slurm-cluster.sh: no $b; run scripts/install-fleet-deps.sh --slurm" >&2; exit 2; }
done
[ "$(id -u)" -eq 0 ] || { echo "slurm-cluster.sh: slurmd must run as root" >&2; exit 2; }
export PATH="$PATH:/usr/sbin"

mkdir -p "$dir"; dir=$(cd "$dir" && pwd); chmod 700 "$dir"
stop
mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
chmod 700 "$dir/munge"
[ -f "$dir/munge/munge.key" ] || { dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none; chmod 400 "$dir/munge/munge.key"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
[ -f "$dir/ports" ] || echo "$(free_port) $(free_port)" >"$dir/ports"
read -r ctl_port d_port <"$dir/ports"
node=$(hostname -s)
cpus=$(nproc)
mem_mb=$(( $(awk '/MemTotal/ { print $2 }' /proc/meminfo) / 1024 / 2 ))

munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
  --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munge/munge.seed"
cat >"$dir/slurm.conf" <<CONF
ClusterName=ternbench-test
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctl_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MinJobAge=600
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=fleet Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=EXCLUSIVE
CONF
export SLURM_CONF="$dir/slurm.conf"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 150); do
  if sinfo -h -N -o '%t' 2>/dev/null | grep -qx idle; then echo "$SLURM_CONF"; exit 0; fi
  sleep 0.2
done
echo "slurm-cluster.sh: the node did not come up idle within 30 s; logs:" >&2
tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log" "$dir/munged.log" >&2
sinfo -N >&2 || true
stop
exit 1
