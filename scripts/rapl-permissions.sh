#!/usr/bin/env bash
# Makes the RAPL energy counters readable by a normal user so `ternbench` can measure energy
# without running as root. Idempotent: run it as often as you like. See docs/energy.md.
set -euo pipefail

POWERCAP="${RAPL_POWERCAP_ROOT:-/sys/class/powercap}"
RULE_FILE="${RAPL_UDEV_RULE:-/etc/udev/rules.d/99-ternbench-rapl.rules}"
GROUP=""
PERSIST=0
DRY=0
MSR=0

usage() {
    cat <<'EOF'
usage: sudo scripts/rapl-permissions.sh [--group GROUP] [--persist] [--msr] [--dry-run] [--help]

Makes /sys/class/powercap/intel-rapl*/energy_uj readable without root, for ternbench's
powercap energy source (Intel RAPL, and AMD Zen on Linux >= 5.11).

Why: energy_uj is readable by root only since the fix for CVE-2020-8694 ("PLATYPUS": fine-grained
energy readings can leak secrets from other processes through a power side channel), in Linux 5.10
and backported to 4.4.242, 4.9.242, 4.14.206, 4.19.156 and to distribution kernels. Opening it
up is a choice for a benchmark machine you control, not for a shared or multi-tenant host.

What it does, each step skipped when already done:
  1. loads the RAPL powercap driver (`modprobe intel_rapl_msr`, which pulls in
     intel_rapl_common) if no intel-rapl zone exists;
  2. makes every zone's energy_uj readable: by everyone (chmod a+r), or with --group GROUP by
     that group only (chgrp GROUP, chmod g+r) - the safer choice: add your user to the group;
  3. with --persist, writes a udev rule so step 2 is redone at every boot and module load:
       ACTION=="add", SUBSYSTEM=="powercap", KERNEL=="intel-rapl*", \
         RUN+="/bin/chmod a+r /sys%p/energy_uj"          (or chgrp/g+r with --group)
     (a chmod on sysfs is lost at reboot and when the driver reloads).

Options:
  --group GROUP  grant read to GROUP instead of everyone
  --persist      also install the udev rule (RAPL_UDEV_RULE overrides its path)
  --msr          also load the msr module (/dev/cpu/N/msr; ternbench's MSR source needs root)
  --dry-run      print what would be done, change nothing (no root needed)
  --help         this text

Not done here (each weakens the machine's security; do it yourself if you want it):
  perf `power` PMU as non-root:  sudo sysctl kernel.perf_event_paranoid=0
  MSR source as non-root:        not supported; /dev/cpu/N/msr needs CAP_SYS_RAWIO

In a VM there is usually nothing to open up: hypervisors rarely expose RAPL. The script then
says so and exits 1. RAPL_POWERCAP_ROOT overrides /sys/class/powercap (for testing).
EOF
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --help | -h) usage; exit 0 ;;
        --group) [[ $# -ge 2 ]] || { echo "error: --group needs a name" >&2; exit 2; }
                 GROUP="$2"; shift ;;
        --persist) PERSIST=1 ;;
        --msr) MSR=1 ;;
        --dry-run) DRY=1 ;;
        *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done

run() {
    if [[ $DRY -eq 1 ]]; then
        echo "would run: $*"
    else
        "$@"
    fi
}

if [[ $DRY -eq 0 && $(id -u) -ne 0 ]]; then
    echo "error: needs root: sudo $0 $*" >&2
    exit 2
fi
if [[ -n "$GROUP" ]] && ! getent group "$GROUP" >/dev/null; then
    echo "error: no group '$GROUP' (create it: sudo groupadd $GROUP; sudo usermod -aG $GROUP \$USER)" >&2
    exit 2
fi

zones() {
    # RAPL zones (MSR and MMIO interfaces) that have an energy counter.
    local z
    for z in "$POWERCAP"/intel-rapl*:*; do
        [[ -e "$z/energy_uj" ]] && echo "$z"
    done
    return 0
}

# 1. The driver.
if [[ -z "$(zones)" ]]; then
    echo "no RAPL zones under $POWERCAP: loading intel_rapl_msr"
    run modprobe intel_rapl_msr || echo "warning: modprobe intel_rapl_msr failed" >&2
fi
if [[ $MSR -eq 1 ]]; then
    if [[ -e /dev/cpu/0/msr ]]; then
        echo "msr: /dev/cpu/0/msr already present"
    else
        run modprobe msr || echo "warning: modprobe msr failed" >&2
    fi
fi

# 2. The permissions.
mapfile -t ZONES < <(zones)
if [[ ${#ZONES[@]} -eq 0 && $DRY -eq 0 ]]; then
    echo "error: still no RAPL zones under $POWERCAP: this CPU, kernel or VM exposes no RAPL" \
         "counters (ternbench will report energy as unavailable; --energy estimate is the fallback)" >&2
    exit 1
fi
for z in "${ZONES[@]}"; do
    f="$z/energy_uj"
    if [[ -n "$GROUP" ]]; then
        if [[ "$(stat -c %G "$f")" == "$GROUP" && $(( 0$(stat -c %a "$f") & 040 )) -ne 0 ]]; then
            echo "ok: $f already readable by group $GROUP"
        else
            run chgrp "$GROUP" "$f"
            run chmod g+r "$f"
            [[ $DRY -eq 1 ]] || echo "done: $f readable by group $GROUP"
        fi
    else
        if [[ $(( 0$(stat -c %a "$f") & 04 )) -ne 0 ]]; then
            echo "ok: $f already readable by everyone"
        else
            run chmod a+r "$f"
            [[ $DRY -eq 1 ]] || echo "done: $f readable by everyone"
        fi
    fi
done

# 3. The udev rule.
if [[ $PERSIST -eq 1 ]]; then
    if [[ -n "$GROUP" ]]; then
        action="RUN+=\"/bin/chgrp $GROUP /sys%p/energy_uj\", RUN+=\"/bin/chmod g+r /sys%p/energy_uj\""
    else
        action="RUN+=\"/bin/chmod a+r /sys%p/energy_uj\""
    fi
    rule="# Written by ternbench scripts/rapl-permissions.sh: RAPL energy_uj readable without root.
ACTION==\"add\", SUBSYSTEM==\"powercap\", KERNEL==\"intel-rapl*\", $action"
    if [[ -f "$RULE_FILE" && "$(cat "$RULE_FILE")" == "$rule" ]]; then
        echo "ok: $RULE_FILE already in place"
    elif [[ $DRY -eq 1 ]]; then
        echo "would write $RULE_FILE:"
        echo "$rule"
    else
        printf '%s\n' "$rule" >"$RULE_FILE"
        echo "done: wrote $RULE_FILE"
        if command -v udevadm >/dev/null; then
            udevadm control --reload-rules
        fi
    fi
fi
