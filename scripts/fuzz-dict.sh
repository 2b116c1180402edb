#!/usr/bin/env bash
# Writes a libFuzzer dictionary of console-log tokens to stdout: fuzz-dict.sh > FILE.
#   `make fuzz` builds .build-fuzz/log.dict with it and always passes it (mk/hardening.mk).
# Literals come from the rules themselves (the `starts`, `header` and `needs` lists
# of rules/ingest.toml, rules/oops/*.toml, rules/redact.toml), so the fuzzer reaches the header
# and prefilter paths without having to guess 20-byte strings; a fixed list adds the structural
# tokens of frames, lockdep, task dumps, ftrace and syzbot pages.
set -euo pipefail
rules=${1:-rules}
{
  grep -ohE '^(starts|header|needs) = \[?.*' "$rules"/ingest.toml "$rules"/oops/*.toml "$rules"/redact.toml \
    | grep -oE '"[^"]+"|'"'"'[^'"'"']+'"'" | sed -E "s/^'(.*)'\$/\1/; s/^\"(.*)\"\$/\1/"
  cat <<'EOF'
Call Trace:
<TASK>
</TASK>
<IRQ>
</IRQ>
RIP: 0010:
Code: 
RSP: 0018:
RAX: 
R13: 
 ? 
+0x1a/0x40
 [vhost]
 kernel/locking/mutex.c:123
 inlined
Hardware name: 
CPU: 0 UID: 0 PID: 1 Comm: 
Tainted: G        W
task:
 state:D stack:0 pid:
 ppid:
 flags:0x00004000
locks held by 
 lock held by 
#0: ffff888012345678 (
&dev->mutex
){+.+.}-{4:4}, at: 
-> #1 (
the existing dependency chain (in reverse order) is:
Possible unsafe locking scenario:
*** DEADLOCK ***
 blocked for more than 
 seconds.
"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.
# tracer: nop
 => 
 vhost_lock: 
 owner=
 waiter=
 dev=
Dumping ftrace buffer:
---------------------------------
[    1.234567]
[  T123]
[  C1]
<4>
Kernel Offset: 0x
 from 0xffffffff81000000
---[ end trace 0000000000000000 ]---
<a href="/text?tag=CrashLog&amp;x=
<a href="/text?tag=ReproC&amp;x=
<a href="https://storage.googleapis.com/syzbot-assets/
<td class="stat">
<tr>
"crashes": [
EOF
} | LC_ALL=C sort -u | while IFS= read -r tok; do
  [ -n "$tok" ] || continue
  # libFuzzer dictionary syntax: "…" with \\, \" and \xNN escapes.
  printf '"%s"\n' "$(printf '%s' "$tok" | sed -e 's/\\u001b/\x1b/g' -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\x1b/\\x1b/g')"
done
