#!/usr/bin/env bash
# Debian packages the test suite needs, installed when missing (CI runs as root on Debian):
# graphviz (make dag), openssh-server and rsync (the loopback cluster nodes, which copy files
# over rsync), slurm-wlm and munge (the single-host SLURM cluster of the SLURM test), and the real
# runtimes whose draws the generator tests compare with: a JDK (javac, java), php-cli and g++
# (libstdc++ and glibc).
set -euo pipefail
need=()
command -v dot >/dev/null 2>&1 || need+=(graphviz)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
command -v javac >/dev/null 2>&1 || need+=(default-jdk-headless)
command -v php >/dev/null 2>&1 || need+=(php-cli)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v rsync >/dev/null 2>&1 || need+=(rsync)
{ [ -x /usr/sbin/slurmctld ] && [ -x /usr/sbin/slurmd ] && command -v sbatch >/dev/null 2>&1; } || need+=(slurm-wlm)
[ -x /usr/sbin/munged ] || need+=(munge)
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
