#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/targets/*Fuzz.swift) into fuzz/.build/ from the
# package's own sources: PgScoreJSON, PgScoreNumericText and ScoreCore are compiled as modules with
# coverage and AddressSanitizer (-sanitize=fuzzer,address), then linked with each
# target. The main Package.swift is not involved (swift build / swift test unchanged).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
out="$here/.build"
mkdir -p "$out"
flags=(-sanitize=fuzzer,address -parse-as-library -O -g -wmo -use-ld=lld -suppress-warnings)

module() {  # name, sources...: one object + swiftmodule per module, rebuilt when a source changed
    local name="$1"; shift
    if [ -f "$out/$name.o" ] && [ -z "$(find "$@" -newer "$out/$name.o" 2>/dev/null)" ]; then return; fi
    echo "fuzz/build.sh: compiling $name"
    swiftc "${flags[@]}" -module-name "$name" -I "$out" -emit-module -emit-module-path "$out/$name.swiftmodule" \
        -c "$@" -o "$out/$name.o"
}

module PgScoreJSON "$root"/Sources/PgScoreJSON/*.swift
module PgScoreNumericText "$root"/Sources/PgScoreNumericText/*.swift
module ScoreCore "$root"/Sources/ScoreCore/*.swift "$root"/Sources/ScoreCore/Trees/*.swift

for target in "$here"/targets/*Fuzz.swift; do  # each with the shared targets/Expect.swift
    name="$(basename "$target" .swift)"
    bin="$out/$name"
    if [ -x "$bin" ] && [ -z "$(find "$target" "$here/targets/Expect.swift" "$out/ScoreCore.o" "$out/PgScoreJSON.o" "$out/PgScoreNumericText.o" -newer "$bin")" ]; then continue; fi
    echo "fuzz/build.sh: linking $name"
    swiftc "${flags[@]}" -I "$out" "$target" "$here/targets/Expect.swift" "$out/ScoreCore.o" "$out/PgScoreJSON.o" "$out/PgScoreNumericText.o" -o "$bin"
done
