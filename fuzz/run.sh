#!/usr/bin/env bash
# Runs every fuzz target for FUZZ_SECONDS (default 300) each: `make fuzz`, and with 30
# inside `make test`. Each target starts from its committed seeds (fuzz/corpus/<kind>)
# and replays fuzz/regressions/<kind> (inputs that once crashed); what it learns goes to
# the git-ignored fuzz/.work/. A crash fails the run: the input is saved under the
# git-ignored fuzz/.crashes/ and printed as hex.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
seconds="${FUZZ_SECONDS:-300}"
"$here/build.sh" || exit 1
export SWIFT_BACKTRACE=enable=no   # Swift's crash handler fights ASan's; libFuzzer reports the crash
mkdir -p "$here/.crashes"
declare -A kinds=([ModelDecoderFuzz]=model [JSONParserFuzz]=json [PreprocessFuzz]=preprocess)
failed=0
for target in ModelDecoderFuzz JSONParserFuzz PreprocessFuzz; do
    kind="${kinds[$target]}"
    work="$here/.work/$kind"
    mkdir -p "$work" "$here/regressions/$kind"
    echo "fuzz: $target for ${seconds}s (seeds: corpus/$kind, regressions/$kind)"
    # a fixed seed per run would only repeat the same paths; the run's seed is in its log
    if ! "$here/.build/$target" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
            -print_final_stats=1 -artifact_prefix="$here/.crashes/$target-" \
            "$work" "$here/corpus/$kind" "$here/regressions/$kind" > "$here/.crashes/$target.log" 2>&1; then
        failed=1
        grep -E "^fuzz: |ERROR|SUMMARY|deadly|Seed:" "$here/.crashes/$target.log" | head -n 20
        for crash in $(grep -o "Test unit written to .*" "$here/.crashes/$target.log" | sed 's/Test unit written to //'); do
            echo "fuzz: $target failed on $crash ($(stat -c %s "$crash") bytes):"
            od -An -tx1 -v "$crash" | head -n 64
        done
        echo "fuzz: full log in fuzz/.crashes/$target.log"
    else
        grep -E "stat::number_of_executed_units|cov: .* ft:" "$here/.crashes/$target.log" | tail -n 2
    fi
done
exit $failed
