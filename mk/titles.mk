# Crash titles (issue 3): agreement with syzbot on the syzkaller corpus, and a throughput figure.
.PHONY: titles-score titles-bench

SYZ_CORPUS ?= Tests/Fixtures/corpus/syzkaller
SYZ_SCORE ?= $(SHARED)/corpus/syzkaller/score.py

## titles-score: score.py agreement tables for `report --json` (public and guilty cases).
titles-score: build
	python3 $(SYZ_SCORE) $(SYZ_CORPUS)/public '$(BIN_DEBUG) report --json {log}' --failures 20
	python3 $(SYZ_SCORE) $(SYZ_CORPUS)/guilty/public '$(BIN_DEBUG) report --json {log}' --failures 20

## titles-bench: title every public case in one release process; prints s/MiB on stderr.
titles-bench: release
	$(BIN) report --all --json --timing $(SYZ_CORPUS)/public/cases/*.log > /dev/null
