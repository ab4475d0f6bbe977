#!/usr/bin/env bash
# The long forms of the reliability suite (docs/reliability.md). Each part prints its figures.
#   scripts/reliability-long.sh crash [KILLS]     crash loop with KILLS SIGKILLs (default 200)
#   scripts/reliability-long.sh fuzz [SECONDS]    libFuzzer on the event decoders (default 600 s)
#   scripts/reliability-long.sh api [EXAMPLES]    schemathesis with EXAMPLES cases per operation (default 500)
#   scripts/reliability-long.sh load [SECONDS]    soak at 80% of the measured maximum (default 600 s)
set -euo pipefail
cd "$(dirname "$0")/.."
part="${1:-}"
case "$part" in
crash)
    swift build --build-tests
    RECSTREAM_CRASH_KILLS="${2:-200}" swift test --skip-build --filter CrashLoopTests
    ;;
fuzz)
    swift build -c release --scratch-path .build-fuzz --product recstream-fuzz \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DRECSTREAM_FUZZING
    work="$(mktemp -d)"
    cp Fuzz/corpus/* "$work/"
    .build-fuzz/release/recstream-fuzz "$work" -max_total_time="${2:-600}" -print_final_stats=1
    echo "new corpus entries are in $work; merge them with: .build-fuzz/release/recstream-fuzz -merge=1 Fuzz/corpus $work"
    ;;
api)
    swift build --build-tests
    RECSTREAM_API_FUZZ_EXAMPLES="${2:-500}" swift test --skip-build --filter APIFuzzTests
    ;;
load)
    swift build -c release --product recstream
    # RECSTREAM_LOAD_MAXIMUM: the maximum measured by a saturated soak (docs/reliability.md); unset, the bench calibrates.
    .build/release/recstream bench load --duration "${2:-600}" --warmup 600 ${RECSTREAM_LOAD_MAXIMUM:+--maximum "$RECSTREAM_LOAD_MAXIMUM"} --plot docs/load.svg --report docs/reliability.md
    ;;
*)
    sed -n '2,7p' "$0"
    exit 2
    ;;
esac
