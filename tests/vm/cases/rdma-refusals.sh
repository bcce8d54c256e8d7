#!/usr/bin/env bash
# Refusals over Soft-RoCE, each one clear line from the CLI and a non-zero
# exit, the target unharmed: unknown export, wrong or missing secret, host
# not allowed, writes to a read-only export, requests past the end; then
# rdmablk-rdma-hostile's malformed connects and capsules (bad version, magic,
# ticket, opcode, range, size, reserved bits, bogus rkey, truncated SEND),
# each answered with the status docs/protocol.md prescribes.
source "$(dirname "$0")/../rdma-lib.sh"

printf 'correct horse battery staple\n' >"$WORK/secret"
printf 'wrong\n' >"$WORK/wrong"
chmod 600 "$WORK/secret" "$WORK/wrong"
start_rdma_target t --export open=ram:16M --export "locked=ram:16M,secret=$WORK/secret" \
  --export "mine=ram:16M,allow=host:alice" --export ro=ram:16M,ro

expect_fail "unknown export" 'unknown export' "$CLI" info "$t_URL/nosuch"
expect_fail "missing secret" 'auth|secret|mac' "$CLI" info "$t_URL/locked"
expect_fail "wrong secret" 'auth|secret|mac' "$CLI" info "$t_URL/locked" --secret-file "$WORK/wrong"
"$CLI" info "$t_URL/locked" --secret-file "$WORK/secret" >/dev/null || fail "right secret refused"
expect_fail "host not allowed" 'host|denied|allow' "$CLI" info "$t_URL/mine" --host-id bob
"$CLI" info "$t_URL/mine" --host-id alice >/dev/null || fail "allowed host refused"

random_file "$WORK/in.bin" 1
expect_fail "write to a read-only export" 'read-only|read only|permission|not permitted' \
  "$CLI" put "$t_URL/ro" "$WORK/in.bin"
expect_fail "read past the end" 'past|range|end|invalid|beyond' \
  "$CLI" get "$t_URL/open" "$WORK/x" --offset 16M --length 4k

echo "== a hostile initiator: bad private data, tickets, capsules, rkeys"
"$RDMABLK_BIN/rdmablk-rdma-hostile" --host "$TARGET_LISTEN" --port "$t_RDMA_PORT" --rw open --ro ro all || { cat "$t_LOG" >&2; fail "hostile initiator"; }

# Everything above left the target serving.
assert_alive "$t_PID" "$t_LOG"
"$STRESS" "$t_URL/open" --span 8M --bytes 8M --qd 16 >"$WORK/out" 2>&1 || { cat "$WORK/out" >&2; fail "I/O after refusals"; }
grep -c 'refus\|reject\|denied\|auth' "$t_LOG" >/dev/null || { cat "$t_LOG" >&2; fail "target logged no refusal"; }
stop_target "$t_PID" || { cat "$t_LOG" >&2; fail "target did not shut down cleanly"; }
check_dmesg
echo PASS
