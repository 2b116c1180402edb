#!/bin/sh
# Stub of the kernel's merge_config.sh: records its arguments, then merges fragments over the
# base config (last value of each option wins), as the real one does with -m.
out=.
while [ $# -gt 0 ]; do
  case "$1" in
    -m) shift ;;
    -O) out=$2; shift 2 ;;
    *) break ;;
  esac
done
echo "merge_config.sh -O $out $*" >> "$out/stub-calls.log"
base=$1; shift
cat "$base" "$@" | awk '
  /^CONFIG_[A-Za-z0-9_]+=/ { split($0, a, "="); key = a[1] }
  /^# CONFIG_[A-Za-z0-9_]+ is not set/ { key = $2 }
  key != "" { if (!(key in seen)) order[n++] = key; seen[key] = $0; key = ""; next }
  END { for (i = 0; i < n; i++) print seen[order[i]] }' > "$out/.config.merged"
mv "$out/.config.merged" "$out/.config"
