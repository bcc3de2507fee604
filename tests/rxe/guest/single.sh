#!/bin/bash
# One guest, several ranks over one rxe0 (Soft-RoCE loopback): the verbs transport
# test, the collective suites over verbs (and UCX over rxe where built), and a
# bandwidth comparison with perftest. The plan ($RW/plan.sh, written by run.sh)
# names the build tree and which parts to run.
. "$(dirname "$0")/common.sh"
. "$RW/plan.sh"
# a guest of the fault matrix's own (run.sh, FAULTS_GUESTS): its part and share
[ -f "$RW/plan-$GUEST_NAME.sh" ] && . "$RW/plan-$GUEST_NAME.sh"
. "$(dirname "$0")/suites.sh"
FAIL=0
step "rxe0: $(ibv_devinfo -d rxe0 | grep -E 'state|active_mtu|link_layer' | tr -s ' \t' ' ' | paste -sd';')  GID index $GIDX"
for part in $PARTS; do
    "suite_$part" || FAIL=1
done
echo "SHOAL_SUMMARY single-guest FAIL=$FAIL"
exit $FAIL
