#!/bin/sh
# Builds the static binaries on the host and the image quicksilver:dev
# (or $QS_IMAGE) from the repository's Dockerfile, FROM scratch: no image
# is pulled and no compiler runs inside Docker.
#
#	deploy/build-image.sh
#	QS_IMAGE=quicksilver:test deploy/build-image.sh
set -eu

cd "$(dirname "$0")/.."
image=${QS_IMAGE:-quicksilver:dev}
out=deploy/bin

mkdir -p "$out"
echo "building static binaries into $out" >&2
CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "$out/qs-node" ./cmd/node
CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "$out/qs-frontend" ./cmd/frontend

# The image's root: a non-root user (uid/gid 65532) and an empty /data
# that the Dockerfile copies owned by that user (a new named volume
# mounted on /data takes that ownership).
rm -rf "$out/rootfs"
mkdir -p "$out/rootfs/etc" "$out/rootfs/data"
echo 'nonroot:x:65532:65532:nonroot:/data:/sbin/nologin' >"$out/rootfs/etc/passwd"
echo 'nonroot:x:65532:' >"$out/rootfs/etc/group"

echo "building image $image" >&2
DOCKER_BUILDKIT=0 docker build -q -t "$image" -f Dockerfile .
