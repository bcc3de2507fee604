# Sourced by guest scripts. In the first script (PID 1 of the guest) it brings up the
# network and the Soft-RoCE device rxe0 and arranges the power-off; every script gets
# the helpers: GIDX (the RoCE v2 IPv4 GID index), timed, step, and the cross-guest
# barrier signal/await through the shared results directory.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb
# The guest has an RDMA device, so every UCX context (shoal's transport probe in each
# forked rank included) opens the IB memory domain, whose registration cache installs
# UCM memory hooks: seen deadlocking ucp_init in forked ranks (ucm_event_enter_exclusive).
# Direct registration keeps UCM out of it.
export UCX_IB_REG_METHODS=direct
karg() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" /proc/cmdline; }
GUEST_NAME=$(karg shoal_name) GUEST_IP=$(karg shoal_ip) RW=$(karg shoal_rw)
now() { date +%s%N; }
secs() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", (b-a)/1e9}'; }

if [ -z "${GUEST_NESTED:-}" ]; then
    export GUEST_NESTED=1
    mkdir -p /tmp /run /dev/pts /dev/shm
    mount -t devpts devpts /dev/pts 2>/dev/null
    mount -t tmpfs tmpfs /dev/shm 2>/dev/null
    hostname "$GUEST_NAME"
    ulimit -l unlimited  # memory registration pins pages
    ulimit -c 0
    guest_done() {
        local rc=$1
        echo "SHOAL_GUEST_EXIT=$rc"
        echo "$rc" > "$RW/$GUEST_NAME.rc"
        sync
        /bin/busybox poweroff -f  # the reboot syscall itself; qemu runs with -no-reboot
    }
    trap 'guest_done $?' EXIT
    NIC=$(ls /sys/class/net | grep -v '^lo$' | head -n1)
    ip link set lo up
    MTU=$(karg shoal_mtu)
    [ -z "$MTU" ] || ip link set "$NIC" mtu "$MTU"
    ip link set "$NIC" up
    ip addr add "$GUEST_IP" dev "$NIC"
    rdma link add rxe0 type rxe netdev "$NIC"
    echo "guest $GUEST_NAME: $NIC $GUEST_IP, rxe0 up at $(cut -d' ' -f1 /proc/uptime) s"
fi

# The RoCE v2 GID holding our IPv4 address appears a moment after `rdma link add`.
rocev2_gid_index() {
    local p i
    for p in /sys/class/infiniband/rxe0/ports/1/gids/*; do
        i=${p##*/}
        case $(cat "$p" 2>/dev/null) in 0000:0000:0000:0000:0000:ffff:*) ;; *) continue ;; esac
        grep -q v2 "/sys/class/infiniband/rxe0/ports/1/gid_attrs/types/$i" 2>/dev/null && { echo "$i"; return 0; }
    done
    return 1
}
GIDX=
for _ in $(seq 100); do GIDX=$(rocev2_gid_index) && break; sleep 0.1; done

# timed SECONDS NAME CMD...: runs CMD with a deadline and logs a tagged result line
# to the console (fd 3) even when CMD's output goes to a file.
exec 3>&1
timed() {
    local limit=$1 name=$2 t0 rc
    shift 2
    t0=$(now)
    timeout --kill-after=5 "$limit" "$@"
    rc=$?
    echo "SHOAL_RESULT $name rc=$rc time=$(secs "$t0")s" >&3
    return $rc
}
step() { echo; echo "===== $*"; }

# Barriers between two guests: files in the shared results directory.
signal() { touch "$RW/sync/$1"; }
await() {
    local i
    for i in $(seq 3000); do [ -e "$RW/sync/$1" ] && return 0; sleep 0.2; done
    echo "await $1: timed out"
    return 1
}
mkdir -p "$RW/sync"
