# The test parts a guest can run, one function each; 0 = passed. Sourced after
# common.sh and the plan (BUILD: the build tree; FILTER_*: optional gtest filters).

gtest() {  # gtest LIMIT NAME BINARY [ARGS...]: one test binary, its summary lines kept
    local limit=$1 name=$2 bin=$3
    shift 3
    if [ ! -x "$bin" ]; then
        echo "SHOAL_RESULT $name rc=missing ($bin not built)"
        return 1
    fi
    timed "$limit" "$name" "$bin" --gtest_color=no "$@" > "/tmp/$name.log" 2>&1
    local rc=$?
    grep -E '^\[ *(OK|FAILED|SKIPPED|PASSED) *\]|Failure|exception|WARN' "/tmp/$name.log" | head -200
    cp "/tmp/$name.log" "$RW/$GUEST_NAME-$name.log"
    # a suite that skipped everything did not test anything here
    if grep -q '^\[  SKIPPED \]' "/tmp/$name.log" && ! grep -q '^\[       OK \]' "/tmp/$name.log"; then
        echo "SHOAL_RESULT $name: every test skipped"
        return 1
    fi
    return $rc
}

suite_transport() {
    step "verbs transport test"
    gtest 600 verbs_transport "$BUILD/tests/verbs_transport_test" ${FILTER_TRANSPORT:+--gtest_filter=$FILTER_TRANSPORT}
}

suite_allreduce() {
    step "allreduce over verbs"
    SHOAL_TRANSPORT=verbs gtest 900 allreduce_verbs "$BUILD/tests/allreduce_test" \
        "--gtest_filter=${FILTER_ALLREDUCE:-*verbs*}"
}

suite_ucx() {
    step "UCX over rxe"
    export UCX_TLS=rc_verbs,ud_verbs,self UCX_NET_DEVICES=rxe0:1 UCX_IB_GID_INDEX=$GIDX
    export UCX_UD_VERBS_ETH_DGID_CHECK=n  # UCX < 1.19 drops rxe's UD packets otherwise
    local rc=0
    if [ -x "$BUILD/tests/ucx_transport_test" ]; then
        gtest 600 ucx_transport "$BUILD/tests/ucx_transport_test" || rc=1
    fi
    SHOAL_TRANSPORT=ucx gtest 900 allreduce_ucx "$BUILD/tests/allreduce_test" \
        "--gtest_filter=${FILTER_ALLREDUCE_UCX:-*ucx*}" || rc=1
    unset UCX_TLS UCX_NET_DEVICES UCX_IB_GID_INDEX UCX_UD_VERBS_ETH_DGID_CHECK
    return $rc
}
