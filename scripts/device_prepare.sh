#!/usr/bin/env bash
# Prepares what scripts/device_check.sh carries to a GPU machine that has no
# Rust toolchain and no network: a stripped release build of wgsl-nn and of
# the GPU test binaries in devcarry/ (x86-64 Linux), and the Vulkan/EGL
# loader packages in .gl/. Both folders should be git-ignored (here via
# .git/info/exclude) and named in the device call's carry list; together
# they stay under ~60 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
for d in /devcarry/ /.gl/; do
    grep -qxF "$d" .git/info/exclude 2>/dev/null || echo "$d" >> .git/info/exclude
done
if [ ! -e .gl/libvulkan1_*.deb ]; then
    mkdir -p .gl /tmp/amd64/partial
    o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
    apt-get $o update
    (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
cargo build --release
cargo test --release --no-run
rm -rf devcarry && mkdir -p devcarry/tests
cp target/release/wgsl-nn devcarry/
# The test binaries that exercise the GPU paths (the rest are CPU-side or
# need the build tree).
for t in attention conv2d dispatch guards transformer exercise; do
    f=$(ls -t target/release/deps/"$t"-* | grep -v '\.d$' | head -1)
    cp "$f" devcarry/tests/"$t"
done
strip devcarry/wgsl-nn devcarry/tests/*
du -sh devcarry .gl
