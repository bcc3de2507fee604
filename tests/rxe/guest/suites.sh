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
        # large chunks written straight into the receiver's registered buffer
        gtest 600 "landing_$t" "$BUILD/tests/landing_test" "--gtest_filter=${FILTER_LANDING:-*verbs*}" || rc=1
        # recursive doubling step by step on even ranks, the general loop on odd ones
        gtest 600 "inorder_$t" "$BUILD/tests/inorder_test" "--gtest_filter=${FILTER_INORDER:-*verbs_2ranks*}" || rc=1
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

# ---- benchmarks: `run.sh single BUILD bench` (optionally `profile` too). Every
# implementation runs in this one boot on the same rxe0, 2 processes each, and the
# table compares them with perftest's ib_write_bw there. The guest CPUs are emulated
# and slow down whenever the host is busy, so the whole set runs BENCH_ROUNDS times
# in turn and each figure is the best round's. Only ratios mean anything. Both
# ceilings are reported: ib_write_bw one way (what the issue names) and ib_write_bw
# -b per direction (a 2-rank allreduce sends and receives its whole buffer on each
# rank at once, so its busbw = bytes/time is the per-direction rate of a
# bidirectional exchange).
BENCH_SIZES=${BENCH_SIZES:-"1048576 4194304"}

# ibbw NAME EXTRA_ARGS...: ib_write_bw server + client on rxe0; appends "SIZE MBps"
# lines to $RW/bench-NAME.dat (perftest's MB is 2^20 bytes; converted to 10^6 here)
ibbw() {
    local name=$1 size iters ip=${GUEST_IP%/*}
    shift
    for size in $BENCH_SIZES; do
        iters=$((32 * 1048576 / size))
        [ $iters -lt 16 ] && iters=16  # perftest reports 0.00 for fewer (seen with 8)
        timeout 300 ib_write_bw -d rxe0 -x "$GIDX" -F -s "$size" -n "$iters" "$@" > "/tmp/$name-srv.log" 2>&1 &
        local srv=$! try
        # the server may take seconds to listen under emulation: retry the connect
        for try in 1 2 3 4 5 6 7 8 9 10; do
            sleep 1
            timed 300 "ib_write_bw_$name" ib_write_bw -d rxe0 -x "$GIDX" -F -s "$size" -n "$iters" "$@" "$ip" \
                > "/tmp/$name-cli.log" 2>&1 && break
            kill -0 $srv 2> /dev/null || break
        done
        kill -0 $srv 2> /dev/null && ! grep -q "^ *$size " "/tmp/$name-cli.log" && kill $srv
        wait $srv
        cat "/tmp/$name-cli.log" "/tmp/$name-srv.log" >> "$RW/$GUEST_NAME-bench-$name.log"
        # columns: #bytes #iterations BW peak BW average MsgRate
        awk -v s="$size" '$1 == s && $4 > 0 {printf "%d %.3f\n", s, $4 * 1.048576}' "/tmp/$name-cli.log" |
            tail -1 | tee -a "$RW/bench-$name.dat" | sed "s/^/    $name: /"
    done
}

# bench_run NAME CMD...: an nccl-tests-format benchmark; "SIZE MBps" from the
# out-of-place time (bytes/us = MB/s; for 2 ranks busbw = algbw)
bench_run() {
    local name=$1
    shift
    local log=$RW/$GUEST_NAME-bench-$name.log
    timed 400 "bench_$name" "$@" > /tmp/bench-run.log 2>&1
    local rc=$?
    cat /tmp/bench-run.log >> "$log"
    sed 's/^\[[0-9]*\] *//' /tmp/bench-run.log |
        awk '$1 ~ /^[0-9]+$/ && $6 > 0 {printf "%d %.3f\n", $1, $1 / $6}' > /tmp/bench-run.dat
    if [ ! -s /tmp/bench-run.dat ]; then
        echo "    $name: no result (rc=$rc):"
        grep -v '^ *$' "$log" | tail -8 | sed 's/^/      /'
        echo "$name: $(grep -a -m1 -i -E 'error|fail|abort' "$log" | cut -c1-200)" >> "$RW/bench-errors.txt"
        return 1
    fi
    tee -a "$RW/bench-$name.dat" < /tmp/bench-run.dat | sed "s/^/    $name: /"
}

arp_args() { echo -b 1M -e 4M -f 4 -n ${BENCH_ITERS:-4} -w 1 -c 0 -d float -o sum; }

bench_round() {
    local ucxenv="UCX_TLS=rc_verbs,ud_verbs,self UCX_NET_DEVICES=rxe0:1 UCX_IB_GID_INDEX=$GIDX UCX_UD_VERBS_ETH_DGID_CHECK=n"
    local shoal=("$BUILD/tools/shoalrun" -n 2 --timeout 390 "$BUILD/perf/all_reduce_perf")
    ibbw ib_write_bw
    ibbw ib_write_bw_b -b
    SHOAL_TRANSPORT=verbs bench_run shoal_verbs "${shoal[@]}" $(arp_args)
    # extra shoal settings to compare (BENCH_VARIANTS="name:VAR=v,VAR=v ..."); by
    # default the busy-polling transport, to show what sleeping on completions gives
    local v
    for v in ${BENCH_VARIANTS-spin:SHOAL_IB_SLEEP_AFTER_US=0}; do
        (
            export SHOAL_TRANSPORT=verbs $(echo "${v#*:}" | tr , ' ')
            bench_run "shoal_verbs_${v%%:*}" "${shoal[@]}" $(arp_args)
        )
    done
    (
        export $ucxenv SHOAL_TRANSPORT=ucx
        bench_run shoal_ucx "${shoal[@]}" $(arp_args)
    )
    if [ -x "$BUILD/perf/gloo_all_reduce_perf" ]; then
        GLOO_IB_DEVICE=rxe0:1:$GIDX bench_run gloo_ibverbs "$BUILD/tools/shoalrun" -n 2 --timeout 390 \
            "$BUILD/perf/gloo_all_reduce_perf" $(arp_args)
    fi
    if [ -x "$BUILD/perf/mpi_all_reduce_perf" ] && command -v mpirun > /dev/null; then
        local x=() kv
        for kv in $ucxenv; do x+=(-x "$kv"); done
        bench_run ompi_ucx mpirun -np 2 --allow-run-as-root --oversubscribe --bind-to none \
            --mca pml ucx --mca btl ^openib,uct --mca osc ^ucx "${x[@]}" \
            "$BUILD/perf/mpi_all_reduce_perf" $(arp_args)
    fi
}

suite_bench() {
    step "benchmarks on rxe0: ib_write_bw, shoal (verbs, UCX), Gloo ibverbs, Open MPI UCX"
    rm -f "$RW"/bench-*.dat "$RW/bench-errors.txt" "$RW/$GUEST_NAME"-bench-*.log
    local r
    for r in $(seq "${BENCH_ROUNDS:-2}"); do
        step "benchmark round $r"
        bench_round
    done
    bench_table
    return 0
}

# The table: per implementation and size its best MB/s over the rounds, and its
# ratios to the best ib_write_bw one way and to ib_write_bw -b per direction
# (perftest reports -b as the sum of both directions: ratio to sum / 2).
bench_table() {
    local out=$RW/bench-table.txt f name
    {
        printf "%-20s %8s %8s %8s %8s\n" impl bytes MB/s /uni /bidir/2
        for f in "$RW"/bench-*.dat; do
            name=${f##*/bench-}
            name=${name%.dat}
            awk -v name="$name" '
                FNR == 1 { file++ }
                file == 1 { if ($2 > u[$1]) u[$1] = $2; next }
                file == 2 { if ($2 > b[$1]) b[$1] = $2; next }
                { if ($2 > best[$1]) best[$1] = $2; n[$1]++ }
                END {
                    for (s in best) {
                        ru = u[s] > 0 ? best[s] / u[s] : 0
                        rb = b[s] > 0 ? best[s] / (b[s] / 2) : 0
                        printf "%-20s %8d %8.3f %8.2f %8.2f\n", name, s, best[s], ru, rb
                    }
                }' "$RW/bench-ib_write_bw.dat" "$RW/bench-ib_write_bw_b.dat" "$f" | sort -k2n
        done
        [ -s "$RW/bench-errors.txt" ] && { echo "failed runs:"; cat "$RW/bench-errors.txt"; }
    } > "$out"
    sed 's/^/SHOAL_PERF bench /' "$out"
}

# perf(1) over the whole guest while shoal runs a 2-rank 4 MiB allreduce over verbs:
# where the emulated CPUs go (rxe kernel work, reduction, copies, polling).
suite_profile() {
    step "profile: 2-rank allreduce over verbs under perf record -a"
    command -v perf > /dev/null || { echo "no perf"; return 0; }
    SHOAL_TRANSPORT=verbs "$BUILD/tools/shoalrun" -n 2 --timeout 300 "$BUILD/perf/all_reduce_perf" \
        -b 4M -e 4M -n ${BENCH_ITERS:-6} -w 1 -c 0 > /tmp/prof-arp.log 2>&1 &
    local job=$!
    sleep 3  # past process start and connection setup
    perf record -a -F 499 -o /tmp/perf.data -- sleep 300 > /tmp/perf-rec.log 2>&1 &
    local rec=$!
    wait $job
    kill -INT $rec 2> /dev/null
    wait $rec
    perf report -i /tmp/perf.data --no-children --sort comm,dso,sym --stdio 2>/dev/null |
        grep -v '^#' | grep -v '^$' | head -45 > "$RW/$GUEST_NAME-profile.txt"
    perf report -i /tmp/perf.data --no-children --sort comm --stdio 2>/dev/null |
        grep -v '^#' | grep -v '^$' | head -12 >> "$RW/$GUEST_NAME-profile.txt"
    cat "$RW/$GUEST_NAME-profile.txt" | cut -c1-150
    grep -E '^(\[0\])? *[0-9]+ ' /tmp/prof-arp.log | sed 's/^/    /'
    return 0
}

# The fault matrix's verbs cases (tests/faults): the same grid as UCX's on the
# host (every rank killed at every phase of every algorithm, bootstrap and
# connect included, stopped peers, a malformed control message, every PS worker
# and server killed at push and at pull), each case checking for leaks too. Its
# rows go to the shared folder; run.sh adds them to the build's FAULTS.md. A
# case sets up 4 ranks: 2-8 s under TCG, nearly all of it CPU on the 2 vCPUs,
# so shards at once in one guest gain nothing (4 cases took 80 s one after the
# other and 92 s as 2 shards); FAULTS_JOBS=N runs N gtest shards at once where
# the guest has the CPUs for it. run.sh gives guests of its own (FAULTS_GUESTS)
# a share each: FAULTS_SHARD of FAULTS_SHARDS.
suite_faults() {
    step "fault matrix over verbs"
    export SHOAL_FAULTS_DIR=$RW/faults
    local jobs=${FAULTS_JOBS:-1} share=${FAULTS_SHARD:-0} shares=${FAULTS_SHARDS:-1} i k rc=0 t0
    local pids=()
    t0=$(now)
    for ((i = 0; i < jobs; i++)); do
        k=$((share * jobs + i))
        GTEST_TOTAL_SHARDS=$((shares * jobs)) GTEST_SHARD_INDEX=$k gtest 600 "faults_verbs_$k" \
            "$BUILD/tests/faults/faults_matrix_test" \
            "--gtest_filter=${FILTER_FAULTS:-Matrix/Faults.Case/verbs_*}" &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || rc=1; done
    echo "SHOAL_RESULT faults_verbs rc=$rc time=$(secs "$t0")s (shard $((share + 1)) of $shares, $jobs at once)"
    unset SHOAL_FAULTS_DIR
    return $rc
}

# The parameter server over verbs: exact sums, 2 workers x 2 servers, sizes that
# span partitions (the 64 MiB case moves too much for an emulated CPU).
suite_ps() {
    step "parameter server over verbs"
    gtest 600 ps_verbs "$BUILD/tests/ps_sync_test" "--gtest_filter=${FILTER_PS:-Verbs/PsSync.*}"
}
