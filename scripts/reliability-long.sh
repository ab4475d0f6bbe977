#!/usr/bin/env bash
# The long forms of the reliability suite (docs/reliability.md). Each part prints its figures and
# writes them into the Figures table of docs/reliability.md with the date and the commit measured
# (scripts/set-figure.py), so no figure there is typed by hand.
#   scripts/reliability-long.sh crash [KILLS]     crash loop with KILLS SIGKILLs (default 200)
#   scripts/reliability-long.sh fuzz [SECONDS]    libFuzzer on the event decoders (default 600 s)
#   scripts/reliability-long.sh api [EXAMPLES]    schemathesis with EXAMPLES cases per operation (default 500)
#   scripts/reliability-long.sh load [SECONDS]    soak at 80% of the measured maximum (default 600 s)
#   scripts/reliability-long.sh restart [ROUNDS]  restart to first answer after SIGTERM and SIGKILL (default 6)
set -euo pipefail
cd "$(dirname "$0")/.."
part="${1:-}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
case "$part" in
crash)
    kills="${2:-200}"
    swift build --build-tests
    started=$(date +%s)
    RECSTREAM_CRASH_KILLS="$kills" swift test --skip-build --filter CrashLoopTests 2>&1 | tee "$log"
    seconds=$(( $(date +%s) - started ))
    figure=$(grep -o 'crash loop figure: .*' "$log" | tail -1 | sed 's/^crash loop figure: //')
    grep -q '✔ Test run with' "$log" || { echo "the crash loop failed; nothing written" >&2; exit 1; }
    scripts/set-figure.py "SIGKILLs survived, long form" "$figure, ${seconds} s" "scripts/reliability-long.sh crash $kills"
    ;;
fuzz)
    seconds="${2:-600}"
    swift build -c release --scratch-path .build-fuzz --product recstream-fuzz \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DRECSTREAM_FUZZING
    work="$(mktemp -d)"
    cp Fuzz/corpus/* "$work/"
    .build-fuzz/release/recstream-fuzz "$work" -max_total_time="$seconds" -print_final_stats=1 2>&1 | tee "$log"
    runs=$(awk '/stat::number_of_executed_units:/ {n = $2} END {print n}' "$log")
    rate=$(awk '/stat::average_exec_per_sec:/ {n = $2} END {print n}' "$log")
    crashes=$(grep -c 'ERROR: libFuzzer\|ERROR: AddressSanitizer' "$log" || true)
    corpus=$(ls Fuzz/corpus | wc -l)
    scripts/set-figure.py "decoder fuzz executions" \
        "${runs} in ${seconds} s (${rate} exec/s, libFuzzer + AddressSanitizer), ${crashes} crashes; corpus of ${corpus} inputs committed and replayed in CI" \
        "scripts/reliability-long.sh fuzz $seconds"
    echo "new corpus entries are in $work; merge them with: .build-fuzz/release/recstream-fuzz -merge=1 Fuzz/corpus $work"
    ;;
api)
    examples="${2:-500}"
    swift build --build-tests
    RECSTREAM_API_FUZZ_EXAMPLES="$examples" swift test --skip-build --filter APIFuzzTests 2>&1 | tee "$log"
    grep -q '✔ Test run with' "$log" || { echo "the API fuzz run failed; nothing written" >&2; exit 1; }
    # The test passes only with no server error, no schema violation and no response over 5 s.
    generated=$(grep -o 'schemathesis: .*' "$log" | tail -1 | grep -o '[0-9]* generated, [0-9]* passed' | tail -1)
    scripts/set-figure.py "HTTP API fuzz" \
        "schemathesis from Schemas/openapi.yaml, ${examples} cases per operation: ${generated}; 0 server errors, 0 schema violations, 0 responses over 5 s" \
        "scripts/reliability-long.sh api $examples"
    ;;
load)
    swift build -c release --product recstream
    # RECSTREAM_LOAD_MAXIMUM: the maximum measured by a saturated soak (docs/reliability.md); unset, the bench calibrates.
    .build/release/recstream bench load --duration "${2:-600}" --warmup 600 ${RECSTREAM_LOAD_MAXIMUM:+--maximum "$RECSTREAM_LOAD_MAXIMUM"} --plot docs/load.svg --report docs/reliability.md
    ;;
restart)
    swift build -c release --product recstream
    .build/release/recstream bench restart --events 200000 --rounds "${2:-6}" --report docs/reliability.md
    ;;
*)
    sed -n '5,9p' "$0"
    exit 2
    ;;
esac
