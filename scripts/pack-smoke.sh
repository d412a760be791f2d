#!/usr/bin/env bash
# Installs a packed mvd the way a new user would, on a PATH with node/npm/npx and no compiler (so
# an install that tries to build anything fails here): `npm install TARBALL`, then `npm ci` from
# the lockfile that made; then one op from ESM and from CommonJS (scripts/pack-smoke/), and ldd of
# the installed addon. Prints the time of each step.
#   scripts/pack-smoke.sh mvd-0.1.0.tgz
set -euo pipefail
[ $# -eq 1 ] && [ -f "$1" ] || { echo "usage: $0 TARBALL"; exit 2; }
tarball=$(realpath "$1")
repo=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d /tmp/mvd-pack-smoke.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

# A bin folder with node, npm, npx and sh only (npm runs lifecycle scripts with `sh` from PATH;
# without it an install script fails with ENOENT whatever it does, which proves nothing).
bin="$scratch/.bin"
mkdir -p "$bin"
for t in node npm npx; do ln -s "$(realpath "$(command -v $t)")" "$bin/$t"; done
ln -s /bin/sh "$bin/sh"
for c in cc c++ gcc g++ clang make cmake nvcc; do
  if PATH="$bin" command -v "$c" >/dev/null 2>&1; then echo "pack-smoke: $c is reachable on the scratch PATH"; exit 1; fi
done

timed() {
  local label=$1; shift
  local t0; t0=$(date +%s%N)
  "$@"
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  printf 'pack-smoke: %s took %d.%02d s\n' "$label" $((ms / 1000)) $((ms % 1000 / 10))
}
npm_here() { (cd "$scratch/app" && env -i HOME="$HOME" PATH="$bin" npm_config_cache="${npm_config_cache:-$HOME/.npm}" "$@"); }

mkdir "$scratch/app"
printf '{ "name": "mvd-pack-smoke", "version": "1.0.0", "private": true }\n' > "$scratch/app/package.json"
cp "$repo"/scripts/pack-smoke/{check.cjs,esm.mjs,cjs.cjs} "$scratch/app/"

timed "npm install <tarball>" npm_here npm install --no-audit --no-fund "$tarball"
rm -rf "$scratch/app/node_modules"
timed "npm ci (lockfile)" npm_here npm ci --no-audit --no-fund

pkg="$scratch/app/node_modules/mvd"
for f in binding.gyp build; do
  [ ! -e "$pkg/$f" ] || { echo "pack-smoke: the installed package has $f (nothing may build at install)"; exit 1; }
done
if [ -x "$scratch/app/node_modules/ffmpeg-static/ffmpeg" ]; then echo "pack-smoke: ffmpeg-static installed its binary"
else echo "pack-smoke: ffmpeg-static has no binary (optional; its download failed or was skipped): mvd uses MVD_FFMPEG or PATH"; fi

# ffmpeg is no compiler: the embed check decodes a real clip with the system's (MVD_FFMPEG).
video="$repo/../shared/data/videos/demo.mp4"
[ -f "$video" ] || { echo "pack-smoke: no $video"; exit 1; }
ff="MVD_FFMPEG=$(command -v ffmpeg)"
timed "ESM op + loadEncoder/embed" npm_here "$ff" node esm.mjs "$video"
timed "CommonJS op + loadEncoder/embed" npm_here "$ff" node cjs.cjs "$video"
node "$repo/scripts/addon-deps.mjs" "$pkg/prebuilds/linux-x64"
echo "pack-smoke: ok"
