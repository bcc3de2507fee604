# The test parts a guest can run, one function each; 0 = passed. Sourced after
# common.sh and the plan (BUILD: the build tree; FILTER_*: optional gtest filters).

gtest() {  # gtest LIMIT NAME BINARY [ARGS...]: one test binary, its summary lines kept
    local limit=$1 name=$2 bin=$3
    shift 3
    if [ ! -x "$bin" ]; then
        echo "SHOAL_RESULT $name rc=missing ($bin not built)"
        return 1
    fi
    # straight into the shared directory, so a guest that times out still leaves it
    local log=$RW/$GUEST_NAME-$name.log
    timed "$limit" "$name" "$bin" --gtest_color=no "$@" > "$log" 2>&1
    local rc=$?
    grep -E '^\[ *(OK|FAILED|SKIPPED|PASSED) *\]|Failure|exception|WARN' "$log" | head -200
    # a suite that skipped everything did not test anything here
    if grep -q '^\[  SKIPPED \]' "$log" && ! grep -q '^\[       OK \]' "$log"; then
        echo "SHOAL_RESULT $name: every test skipped"
        return 1
    fi
    return $rc
}

suite_transport() {
    step "verbs transport test"
    gtest 600 verbs_transport "$BUILD/tests/verbs_transport_test" ${FILTER_TRANSPORT:+--gtest_filter=$FILTER_TRANSPORT}
}

# arp NAME RANKS ARGS...: all_reduce_perf under shoalrun with every element checked
# (-c 1); fails on any wrong element or rank failure.
arp() {
    local name=$1 n=$2
    shift 2
    local log=$RW/$GUEST_NAME-$name.log
    timed 600 "$name" "$BUILD/tools/shoalrun" -n "$n" --timeout 590 "$BUILD/perf/all_reduce_perf" \
        -c 1 -n 1 -w 0 "$@" > "$log" 2>&1
    local rc=$?
    grep -E 'Out of bounds|Avg bus' "$log" | sed 's/^/    /'
    grep -q 'Out of bounds values : 0 OK' "$log" || { tail -20 "$log"; rc=1; }
    return $rc
}

# The collectives over verbs. The full allreduce_test matrix moves too much data for
# an emulated CPU, so every type and op is swept with all_reduce_perf's element check
# instead (small to mid sizes), plus multi-chunk sizes with striping, plus the error
# suite with verbs as the transport.
suite_allreduce() {
    step "allreduce over verbs"
    local rc=0 t=${TRANSPORT:-verbs}
    export SHOAL_TRANSPORT=$t
    # every type once, every op once, odd and multi-chunk sizes, 2 to 4 ranks
    arp "allreduce_${t}_2ranks_all_types" 2 -b 8 -e 32K -f 64 -d all -o sum || rc=1
    arp "allreduce_${t}_2ranks_all_ops" 2 -b 8 -e 32K -f 64 -d float -o all || rc=1
    arp "allreduce_${t}_3ranks_all_types" 3 -b 1K -e 64K -f 64 -d all -o sum || rc=1
    SHOAL_IB_QPS_PER_CONNECTION=2 arp "allreduce_${t}_4ranks_multichunk" 4 -b 3M -e 3M -d float -o sum || rc=1
    if [ "$t" = verbs ]; then
        gtest 600 "allreduce_errors_$t" "$BUILD/tests/allreduce_errors_test" \
            "--gtest_filter=${FILTER_ERRORS:-*BadArguments*:*Mismatched*:*RankExiting*}" || rc=1
    fi
    unset SHOAL_TRANSPORT
    return $rc
}

suite_ucx() {
    step "UCX over rxe"
    export UCX_TLS=rc_verbs,ud_verbs,self UCX_NET_DEVICES=rxe0:1 UCX_IB_GID_INDEX=$GIDX
    export UCX_UD_VERBS_ETH_DGID_CHECK=n  # UCX < 1.19 drops rxe's UD packets otherwise
    local rc=0
    # By default without the long credit soak and the 4-rank cases (minutes under
    # emulation, nothing rxe-specific), and without the shm- and tcp-lane cases, which
    # pick their own UCX_TLS that UCX_NET_DEVICES=rxe0:1 leaves no device for.
    # FILTER_UCX overrides.
    if [ -x "$BUILD/tests/ucx_transport_test" ]; then
        gtest 600 ucx_transport "$BUILD/tests/ucx_transport_test" "--gtest_filter=${FILTER_UCX:--*ManyWritesInFlight*:*Shm*:*Tcp*:*4Ranks*}" || rc=1
    fi
    TRANSPORT=ucx suite_allreduce || rc=1
    unset UCX_TLS UCX_NET_DEVICES UCX_IB_GID_INDEX UCX_UD_VERBS_ETH_DGID_CHECK
    return $rc
}

# perftest's ib_write_bw against shoal's all_reduce_perf over verbs, on the same device.
# Under software emulation only the ratio means anything.
suite_perf() {
    step "bandwidth: ib_write_bw vs all_reduce_perf over verbs"
    local ip=${GUEST_IP%/*} rc=0
    timeout 120 ib_write_bw -d rxe0 -x "$GIDX" -F --report_gbits -s 1048576 -n 50 > /tmp/bw-srv.log 2>&1 &
    local srv=$!
    sleep 1
    timed 120 ib_write_bw ib_write_bw -d rxe0 -x "$GIDX" -F --report_gbits -s 1048576 -n 50 "$ip" \
        > /tmp/bw-cli.log 2>&1 || rc=1
    wait $srv || rc=1
    # columns: #bytes #iterations BW peak BW average MsgRate
    local bw
    bw=$(awk '$1 == 1048576 {print $4}' /tmp/bw-cli.log | tail -1)
    echo "SHOAL_PERF ib_write_bw 1MiB avg_gbps=${bw:-none}"
    [ -n "$bw" ] || { cat /tmp/bw-cli.log /tmp/bw-srv.log; rc=1; }
    local n
    for n in 2; do
        SHOAL_TRANSPORT=verbs timed 300 all_reduce_perf_$n "$BUILD/tools/shoalrun" -n $n --timeout 280 \
            "$BUILD/perf/all_reduce_perf" -b 1M -e 4M -f 4 -n 5 -w 1 -c 0 > "/tmp/arp$n.log" 2>&1 || rc=1
        cp "/tmp/arp$n.log" "$RW/$GUEST_NAME-all_reduce_perf_$n.log"
        grep -E '^ *[0-9]+ ' "/tmp/arp$n.log" | sed 's/^/    /'
        # nccl-tests layout: size count type redop root time algbw busbw #wrong (out of place)
        # busbw from the out-of-place time (us) of 4 MiB: bytes/us = MB/s, times 2(n-1)/n
        local busbw
        busbw=$(awk -v n=$n '$2 == 4194304 {printf "%.3f", $2 / $7 * 2 * (n - 1) / n; exit}' "/tmp/arp$n.log")
        echo "SHOAL_PERF all_reduce_perf ranks=$n 4MiB busbw_MBps=${busbw:-none}"
        [ -n "$busbw" ] && [ -n "$bw" ] &&
            awk -v a="$busbw" -v b="$bw" -v n=$n 'BEGIN{printf "SHOAL_PERF ratio ranks=%d busbw/ib_write_bw = %.2f\n", n, a * 8 / 1000 / b}'
    done
    return $rc
}

# Ad-hoc debugging: runs $DEBUG_CMD (from the plan) and keeps its output.
suite_debug() {
    step "debug: $DEBUG_CMD"
    timed "${DEBUG_LIMIT:-300}" debug bash -c "$DEBUG_CMD" > /tmp/debug.log 2>&1
    local rc=$?
    cp /tmp/debug.log "$RW/$GUEST_NAME-debug.log"
    tail -${DEBUG_TAIL:-60} /tmp/debug.log
    return $rc
}
