// Driver: the repro workflow (prepare, run, watch, build-kernel): downloads, QEMU, serial log following.
