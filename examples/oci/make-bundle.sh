#!/bin/sh
# Builds a runnable OCI bundle in DIR (default ./wasmsup-demo): a busybox rootfs (Debian package
# busybox-static) owned by host uid/gid 100000, and a config.json with a user namespace mapping
# 0 -> 100000 (65536 ids) whose linux.seccomp section comes from `wasmsup oci-config`. Then:
#
#   wasmsup agent --socket /run/wasmsup/agent.sock --policies POLICY_DIR &
#   runc run --bundle DIR demo            # or: crun run --bundle DIR demo
#
# Usage: make-bundle.sh [DIR] [POLICY_DIR] [SOCKET]
set -eu
dir=${1:-wasmsup-demo}
here=$(cd "$(dirname "$0")" && pwd)
wasmsup="$here/../../bin/wasmsup"
policies=${2:-"$here/../../build/policies"}
socket=${3:-/run/wasmsup/agent.sock}

mkdir -p "$dir/rootfs/bin" "$dir/rootfs/etc" "$dir/rootfs/tmp" "$dir/rootfs/proc" "$dir/rootfs/dev"
cp /bin/busybox "$dir/rootfs/bin/busybox"
chroot "$dir/rootfs" /bin/busybox --install -s /bin
ln -sfn /etc "$dir/rootfs/esc"           # an absolute symlink: resolves inside the rootfs
chown -R -h 100000:100000 "$dir/rootfs"
chmod 1777 "$dir/rootfs/tmp"
chmod 755 "$dir"

"$wasmsup" oci-config --policies "$policies" --socket "$socket" "$here/config.json" > "$dir/config.json"
echo "bundle ready: $dir (runc run --bundle $dir demo)"
