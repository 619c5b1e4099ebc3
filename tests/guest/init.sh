#!/bin/sh
# PID 1 of the test guest: mount proc, sys, tracefs, the host's share (9p: the
# checkout, the wheel and the results folder), run its run.sh, power off.
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tracefs nodev /sys/kernel/tracing
mount -t tmpfs tmpfs /tmp
mount -o remount,rw /
modprobe 9pnet_virtio 2>/dev/null; modprobe 9p 2>/dev/null
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 scope /mnt/scope
hostname scope-guest
echo "[guest] kernel $(uname -r)"
sh /mnt/scope/run.sh > /mnt/scope/out/console.log 2>&1
echo $? > /mnt/scope/out/rc
sync
echo o > /proc/sysrq-trigger
sleep 30
