#!/usr/bin/env python3
"""symbolize-agreement.py --binary repro-analyze --vmlinux VMLINUX [--count N] [--seed S]

Draws N random addresses from the vmlinux's .text (seeded, reproducible), symbolizes them with
`repro-analyze symbolize --addrs --no-cache` and with `llvm-symbolizer --inlining`, and compares
every frame of every inline chain (function, file, line, column). Prints the agreement and each
difference; exits 1 when agreement is below --min (default 99.5%)."""
import argparse, random, subprocess, sys

ap = argparse.ArgumentParser()
ap.add_argument('--binary', required=True)
ap.add_argument('--vmlinux', required=True)
ap.add_argument('--count', type=int, default=10000)
ap.add_argument('--seed', type=int, default=4)
ap.add_argument('--min', type=float, default=99.5)
ap.add_argument('--llvm', default='llvm-symbolizer')
a = ap.parse_args()

# .text bounds from the section table (readelf -SW: [Nr] Name Type Address Off Size ...)
lo = hi = None
for line in subprocess.run(['readelf', '-SW', a.vmlinux], capture_output=True, text=True, check=True).stdout.splitlines():
    parts = line.replace('[ ', '[').split()
    if len(parts) > 5 and parts[1] == '.text':
        lo = int(parts[3], 16); hi = lo + int(parts[5], 16)
if lo is None:
    sys.exit(f'{a.vmlinux}: no .text section')
rng = random.Random(a.seed)
addrs = [rng.randrange(lo, hi) for _ in range(a.count)]
inp = ''.join(f'{x:#x}\n' for x in addrs)

def blocks(out):
    out = out.rstrip('\n')
    return out.split('\n\n') if out else []

ours = subprocess.run([a.binary, 'symbolize', '--vmlinux', a.vmlinux, '--no-cache', '--addrs'],
                      input=inp, capture_output=True, text=True)
if ours.returncode != 0:
    sys.exit(f'repro-analyze failed ({ours.returncode}): {ours.stderr}')
ref = subprocess.run([a.llvm, '--inlining', '--obj=' + a.vmlinux], input=inp, capture_output=True, text=True)
if ref.returncode != 0:
    sys.exit(f'{a.llvm} failed ({ref.returncode}): {ref.stderr}')
ob, rb = blocks(ours.stdout), blocks(ref.stdout)
if len(ob) != len(addrs) or len(rb) != len(addrs):
    sys.exit(f'output count mismatch: ours {len(ob)}, llvm {len(rb)}, addresses {len(addrs)}')
diffs = [(x, o, r) for x, o, r in zip(addrs, ob, rb) if o != r]
frames = sum(b.count('\n') // 2 + 1 for b in rb)
agree = 100.0 * (len(addrs) - len(diffs)) / len(addrs)
print(f'addresses: {len(addrs)} (.text {lo:#x}-{hi:#x}, seed {a.seed}), llvm frames: {frames}')
print(f'identical: {len(addrs) - len(diffs)} / {len(addrs)} = {agree:.2f}%')
for x, o, r in diffs[:50]:
    print(f'--- {x:#x}\n  ours: ' + o.replace('\n', ' | ') + '\n  llvm: ' + r.replace('\n', ' | '))
sys.exit(0 if agree >= a.min else 1)
