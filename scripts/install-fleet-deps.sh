#!/usr/bin/env bash
# install-fleet-deps.sh: what fleet runs and their tests need on the controller (this machine):
# ansible-core from PyPI in a virtualenv (.fleet-venv/, ansible-playbook at
# .fleet-venv/bin/ansible-playbook) and Debian's openssh-server (the loopback tests' sshd);
# with --slurm also Debian's slurmctld, slurmd, slurm-client and munge (the one-node cluster
# of deploy/tests/slurm-loopback.sh). Idempotent: what is there already is not reinstalled.
# The fleet's hosts need nothing: they get a static binary (deploy/build-static.sh).
#
#   scripts/install-fleet-deps.sh [--slurm]
set -euo pipefail
cd "$(dirname "$0")/.."
ANSIBLE_CORE_VERSION=${ANSIBLE_CORE_VERSION:-2.19.15}   # needs Python >= 3.11 on the controller

slurm=0
for a in "$@"; do
  case "$a" in
    --slurm) slurm=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "install-fleet-deps.sh: unknown option $a (see --help)" >&2; exit 2 ;;
  esac
done

debs=()
[ -x /usr/sbin/sshd ] || debs+=(openssh-server)
command -v ssh >/dev/null || debs+=(openssh-client)
command -v flock >/dev/null || debs+=(util-linux)
if [ "$slurm" -eq 1 ]; then
  [ -x /usr/sbin/slurmctld ] || debs+=(slurmctld)
  [ -x /usr/sbin/slurmd ] || debs+=(slurmd)
  command -v sbatch >/dev/null || debs+=(slurm-client)
  [ -x /usr/sbin/munged ] || debs+=(munge)
fi
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then debs+=(python3-venv); fi
if [ "${#debs[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${debs[*]}"
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${debs[@]}" >/dev/null
fi

venv=.fleet-venv
have=$("$venv/bin/ansible-playbook" --version 2>/dev/null || true)
if [[ "$have" != *"core $ANSIBLE_CORE_VERSION]"* ]]; then
  echo "installing ansible-core $ANSIBLE_CORE_VERSION into $venv/"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "ansible-core==$ANSIBLE_CORE_VERSION"
fi
"$venv/bin/ansible-playbook" --version 2>/dev/null | sed -n 1p
