#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for trying profiles/slurm and for the `slurm` tests in CI.
# Debian/Ubuntu packages, no systemd: every daemon runs in the foreground under nohup and its PID is
# recorded, so `stop` ends exactly the processes that `start` began and nothing else.
#
# Usage (as root):  tools/slurm_local.sh install | start | status | stop | all
#   install  apt-get update + install the packages (skipped when they are already installed)
#   start    write /etc/slurm/slurm.conf from `slurmd -C`, start munged, [mariadbd, slurmdbd,]
#            slurmctld and slurmd, wait until the node is idle; says so when already running
#   status   the recorded daemons, sinfo and squeue; exit status 0 only when the cluster is up
#   stop     cancel the cluster's jobs, then stop the recorded daemons (PID checked against its name)
#   all      install, start, status
#
# Environment:
#   SLURM_LOCAL_STATE       state, logs and PID files (default /tmp/emoflow-slurm)
#   SLURM_LOCAL_ACCOUNTING  none (default): no accounting; sacct does not work, so run Snakemake with
#                             --slurm-status-command squeue
#                           dbd: also a private MariaDB and slurmdbd, so sacct (the executor's default
#                             status command) works and slurm_account=root is accepted
#   SLURM_LOCAL_PARTITION   name of the single partition (default debug)
#   SLURM_LOCAL_DB_PORT     MariaDB port on 127.0.0.1, dbd mode only (default 3306)
#   SLURM_LOCAL_FORCE=1     replace an /etc/slurm/slurm.conf that this script did not write
#
# Outside $SLURM_LOCAL_STATE it writes /etc/slurm/slurm.conf (and slurmdbd.conf in dbd mode),
# creates /run/munge and /run/slurm, and adds the short host name to /etc/hosts if it does not resolve.
set -euo pipefail

STATE=${SLURM_LOCAL_STATE:-/tmp/emoflow-slurm}
ACCOUNTING=${SLURM_LOCAL_ACCOUNTING:-none}
PARTITION=${SLURM_LOCAL_PARTITION:-debug}
DB_PORT=${SLURM_LOCAL_DB_PORT:-3306}
CLUSTER=emoflow
MARKER="# Written by tools/slurm_local.sh"
CONF=/etc/slurm/slurm.conf
DBD_CONF=/etc/slurm/slurmdbd.conf
DB_SOCKET=$STATE/mysql/mysqld.sock
# Stop order; start order is the reverse.
DAEMONS=(slurmd slurmctld slurmdbd mariadbd munged)

say() { printf '[slurm_local %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

case $ACCOUNTING in
    none | dbd) ;;
    *) die "SLURM_LOCAL_ACCOUNTING must be 'none' or 'dbd', not '$ACCOUNTING'" ;;
esac
[[ $STATE == /?* && $STATE != *..* && $STATE != / ]] || die "SLURM_LOCAL_STATE must be an absolute path"
[[ $PARTITION =~ ^[A-Za-z0-9_-]+$ ]] || die "SLURM_LOCAL_PARTITION '$PARTITION' is not a valid partition name"

need_root() { [[ $(id -u) -eq 0 ]] || die "'$1' must run as root"; }

packages() {
    local pkgs=(munge slurm-client slurmctld slurmd)
    [[ $ACCOUNTING == dbd ]] && pkgs+=(mariadb-server slurmdbd)
    printf '%s\n' "${pkgs[@]}"
}

# ------------------------------------------------------------------------------------------ PIDs
pidfile() { printf '%s/pids/%s' "$STATE" "$1"; }
recorded_pid() { [[ -f $(pidfile "$1") ]] && cat "$(pidfile "$1")"; }

# Alive and still the program we started (a recycled PID has another name in /proc/PID/comm).
is_ours() {
    local pid
    pid=$(recorded_pid "$1") || return 1
    [[ -n $pid && -r /proc/$pid/comm && $(</proc/"$pid"/comm) == "$1" ]]
}

# PIDs of running processes called NAME that this script did not start.
foreign_pids() {
    local name=$1 own comm p out=()
    own=$(recorded_pid "$name" || true)
    for comm in /proc/[0-9]*/comm; do
        p=${comm#/proc/}
        p=${p%/comm}
        [[ $p == "$own" ]] && continue
        [[ $(cat "$comm" 2>/dev/null) == "$name" ]] && out+=("$p")
    done
    echo "${out[*]:-}"
}

# launch NAME CMD...: run CMD in the foreground of a nohup'd background job; $! is the daemon itself.
launch() {
    local name=$1
    shift
    nohup "$@" >"$STATE/log/$name.out" 2>&1 </dev/null &
    echo $! >"$(pidfile "$name")"
    say "started $name (pid $!)"
}

# wait_until SECONDS NAME CMD...: poll CMD; give up early when daemon NAME (if we started it) died.
wait_until() {
    local limit=$1 name=$2
    shift 2
    local deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        if [[ -f $(pidfile "$name") ]] && ! is_ours "$name"; then
            say "$name exited; last lines of its logs:"
            tail -n 15 "$STATE/log/$name".* >&2 2>/dev/null || true
            return 1
        fi
        if ((SECONDS >= deadline)); then
            say "no answer from $name after ${limit}s"
            return 1
        fi
        sleep 0.5
    done
}

stop_one() {
    local name=$1 pid
    pid=$(recorded_pid "$name") || return 0
    if is_ours "$name"; then
        kill -TERM "$pid"
        local deadline=$((SECONDS + 15))
        while [[ -e /proc/$pid ]] && ((SECONDS < deadline)); do sleep 0.25; done
        if [[ -e /proc/$pid ]] && [[ $(cat /proc/"$pid"/comm 2>/dev/null) == "$name" ]]; then
            say "$name (pid $pid) did not stop on TERM; sending KILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        say "stopped $name (pid $pid)"
    else
        say "$name (pid $pid) is not running (or the PID now belongs to another program); left alone"
    fi
    rm -f "$(pidfile "$name")"
}

# ------------------------------------------------------------------------------------------ install
do_install() {
    need_root install
    local pkgs missing=()
    mapfile -t pkgs < <(packages)
    local p
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if ((${#missing[@]} == 0)); then
        say "packages already installed: ${pkgs[*]}"
        return 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    # The packages' maintainer scripts would start the services with the packaged configuration;
    # this script runs its own daemons, so keep them from starting during the install.
    local policy=/usr/sbin/policy-rc.d added_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        added_policy=1
    fi
    local rc=0
    say "apt-get install ${missing[*]}"
    {
        apt-get update -qq &&
            apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    } || rc=$?
    ((added_policy)) && rm -f "$policy"
    ((rc == 0)) || die "apt-get failed (exit $rc)"
    dpkg-query -W -f='${Package} ${Version}\n' "${pkgs[@]}" >&2
}

# ------------------------------------------------------------------------------------------ status
cluster_up() {
    local names=(munged slurmctld slurmd) n
    [[ -f $STATE/accounting && $(<"$STATE/accounting") == dbd ]] && names+=(mariadbd slurmdbd)
    for n in "${names[@]}"; do
        # munged may be a system one that start found working and reused
        if [[ $n == munged && -f $STATE/munged.external ]]; then continue; fi
        is_ours "$n" || return 1
    done
    scontrol ping >/dev/null 2>&1
}

do_status() {
    local n pid
    echo "state: $STATE (accounting: $(cat "$STATE/accounting" 2>/dev/null || echo unknown))"
    for n in munged mariadbd slurmdbd slurmctld slurmd; do
        pid=$(recorded_pid "$n" || true)
        if [[ -z $pid ]]; then
            [[ $n == munged && -f $STATE/munged.external ]] && echo "  munged: a system one, not started here"
            continue
        fi
        if is_ours "$n"; then echo "  $n pid $pid running"; else echo "  $n pid $pid NOT running"; fi
    done
    if cluster_up; then
        sinfo
        squeue --states=all
        return 0
    fi
    echo "cluster is not up"
    return 1
}

# ------------------------------------------------------------------------------------------ start
node_line() {
    # `slurmd -C` prints the hardware as a NodeName line; keep the topology, give 95% of the memory.
    local hw key value
    declare -A f=()
    hw=$(slurmd -C | head -n 1)
    for kv in $hw; do
        key=${kv%%=*}
        value=${kv#*=}
        f[$key]=$value
    done
    [[ -n ${f[CPUs]:-} && -n ${f[RealMemory]:-} ]] || die "could not read the hardware from 'slurmd -C': $hw"
    printf 'NodeName=%s CPUs=%s Boards=%s SocketsPerBoard=%s CoresPerSocket=%s ThreadsPerCore=%s' \
        "$(hostname -s)" "${f[CPUs]}" "${f[Boards]:-1}" "${f[SocketsPerBoard]:-1}" \
        "${f[CoresPerSocket]:-${f[CPUs]}}" "${f[ThreadsPerCore]:-1}"
    printf ' RealMemory=%s State=UNKNOWN\n' "$((f[RealMemory] * 95 / 100))"
}

write_slurm_conf() {
    local host=$1 accounting_lines
    if [[ $ACCOUNTING == dbd ]]; then
        accounting_lines="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819"
    else
        accounting_lines="AccountingStorageType=accounting_storage/none"
    fi
    mkdir -p /etc/slurm
    cat >"$CONF" <<EOF
$MARKER: a one-node cluster for testing; safe to delete.
ClusterName=$CLUSTER
SlurmctldHost=$host
SlurmUser=slurm
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
MailProg=/bin/true
# No cgroups and no systemd: plain process tracking. Memory requests are bookkeeping only here;
# time limits are enforced.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
$accounting_lines
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# Finished jobs stay visible to 'squeue --states=all' for 10 minutes. The executor plugin only trusts
# squeue as its status command when MinJobAge >= 3 x its first status-check delay.
MinJobAge=600
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
$(node_line)
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

start_database() {
    # A private MariaDB (data, socket and PID file under $STATE, owned by mysql), not the packaged one.
    local pass
    pass=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
    install -d -o mysql -g mysql "$STATE/mysql"
    mariadb-install-db --user=mysql --datadir="$STATE/mysql" --auth-root-authentication-method=socket \
        --skip-test-db >"$STATE/log/mariadb-install-db.out" 2>&1 ||
        { tail -n 20 "$STATE/log/mariadb-install-db.out" >&2; return 1; }
    launch mariadbd /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$STATE/mysql" \
        --socket="$DB_SOCKET" --pid-file="$STATE/mysql/mysqld.pid" \
        --bind-address=127.0.0.1 --port="$DB_PORT" --innodb-buffer-pool-size=128M
    wait_until 60 mariadbd mariadb --socket="$DB_SOCKET" -e 'SELECT 1' || return 1
    mariadb --socket="$DB_SOCKET" -e "
        CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$pass';
        CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
        FLUSH PRIVILEGES;"
    [[ ! -e $DBD_CONF ]] || grep -qF "$MARKER" "$DBD_CONF" || [[ ${SLURM_LOCAL_FORCE:-0} == 1 ]] ||
        { say "$DBD_CONF was not written by this script (SLURM_LOCAL_FORCE=1 replaces it)"; return 1; }
    # slurmdbd refuses a configuration file that others can read
    install -m 600 -o slurm -g slurm /dev/null "$DBD_CONF"
    cat >"$DBD_CONF" <<EOF
$MARKER: a one-node cluster for testing; safe to delete.
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=slurm
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$pass
StorageLoc=slurm_acct_db
LogFile=$STATE/log/slurmdbd.log
PidFile=/run/slurm/slurmdbd.pid
DebugLevel=info
EOF
    launch slurmdbd /usr/sbin/slurmdbd -D
    # slurmdbd creates its tables on the first start; sacctmgr answers once that is done
    wait_until 60 slurmdbd sacctmgr -n list cluster
}

node_idle() { [[ $(sinfo -h -n "$1" -o %t 2>/dev/null) == idle ]]; }
cluster_registered() { sacctmgr -n -P list cluster format=cluster 2>/dev/null | grep -qx "$CLUSTER"; }

start_daemons() {
    local host=$1 other

    # munge: the packages create the key; reuse a munged that already works (e.g. a system service)
    [[ -s /etc/munge/munge.key ]] || mungekey --create --keyfile /etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    install -d -o munge -g munge -m 0755 /run/munge
    other=$(foreign_pids munged)
    if [[ -n $other ]] && munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        say "using the munged that is already running (pid $other); stop will leave it alone"
        touch "$STATE/munged.external"
    else
        # setpriv execs (no fork), so the recorded PID is munged's own
        launch munged setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged --foreground
        wait_until 20 munged bash -c 'munge -n | unmunge' || return 1
    fi

    install -d -o slurm -g slurm /run/slurm
    if [[ $ACCOUNTING == dbd ]]; then
        start_database || return 1
    fi

    # -i: a fresh StateSaveLocation has no state files to recover
    launch slurmctld /usr/sbin/slurmctld -D -i
    wait_until 30 slurmctld scontrol ping || return 1
    launch slurmd /usr/sbin/slurmd -D
    if ! wait_until 60 slurmd node_idle "$host"; then
        sinfo -R >&2 || true
        tail -n 15 "$STATE/log/slurmd.log" >&2 || true
        return 1
    fi
    if [[ $ACCOUNTING == dbd ]]; then
        # slurmctld registers the cluster with slurmdbd by itself
        wait_until 30 slurmctld cluster_registered || return 1
    fi
}

do_start() {
    need_root start
    command -v slurmctld >/dev/null || die "SLURM is not installed; run '$0 install' first"
    if cluster_up; then
        say "already running (state $STATE, accounting $(<"$STATE/accounting")); '$0 stop' ends it"
        [[ $(<"$STATE/accounting") == "$ACCOUNTING" ]] ||
            say "note: its accounting is '$(<"$STATE/accounting")', not '$ACCOUNTING'; stop it to change"
        return 0
    fi
    # leftovers of an earlier start whose cluster is not complete any more
    if [[ -d $STATE/pids ]] && compgen -G "$STATE/pids/*" >/dev/null; then
        say "cluster in $STATE is only partly running; stopping what is left"
        do_stop
    fi
    local n other
    for n in slurmctld slurmd slurmdbd; do
        other=$(foreign_pids "$n")
        [[ -z $other ]] || die "a $n that this script did not start is running (pid $other); stop it first"
    done
    [[ ! -e $CONF ]] || grep -qF "$MARKER" "$CONF" || [[ ${SLURM_LOCAL_FORCE:-0} == 1 ]] ||
        die "$CONF was not written by this script; set SLURM_LOCAL_FORCE=1 to replace it"

    # $STATE is wiped on every start, so only ever wipe a directory this script made
    if [[ -e $STATE ]]; then
        [[ -f $STATE/.slurm_local ]] || [[ -z $(ls -A "$STATE") ]] ||
            die "$STATE exists and was not made by this script; choose another SLURM_LOCAL_STATE"
        rm -rf "$STATE"
    fi
    mkdir -p "$STATE"/{log,pids,ctld,spool}
    touch "$STATE/.slurm_local"
    echo "$ACCOUNTING" >"$STATE/accounting"
    chmod 755 "$STATE" "$STATE/log"
    chown slurm:slurm "$STATE/log" "$STATE/ctld"

    local host t0=$SECONDS
    host=$(hostname -s)
    if ! getent hosts "$host" >/dev/null; then
        say "adding $host to /etc/hosts"
        echo "127.0.0.1 $host" >>/etc/hosts
    fi
    write_slurm_conf "$host"
    say "$CONF: $(grep '^NodeName' "$CONF")"

    if ! start_daemons "$host"; then
        say "start failed; stopping the daemons started so far (logs stay in $STATE/log)"
        do_stop
        exit 1
    fi
    say "cluster up in $((SECONDS - t0)) s: partition $PARTITION, accounting $ACCOUNTING"
    [[ $ACCOUNTING == none ]] && say "no accounting: run Snakemake with --slurm-status-command squeue"
    return 0
}

# ------------------------------------------------------------------------------------------ stop
do_stop() {
    need_root stop
    if is_ours slurmctld; then
        local jobs=()
        mapfile -t jobs < <(squeue -h -o %i 2>/dev/null || true)
        if ((${#jobs[@]})); then
            say "cancelling jobs: ${jobs[*]}"
            scancel "${jobs[@]}" 2>/dev/null || true
            # shellcheck disable=SC2016  # expanded by the inner bash
            wait_until 30 slurmctld bash -c '[[ -z $(squeue -h -t R,CG -o %i) ]]' || true
        fi
    fi
    local n
    for n in "${DAEMONS[@]}"; do
        stop_one "$n"
    done
    rm -f "$STATE/munged.external"
}

# ------------------------------------------------------------------------------------------ main
cmd=${1:-}
case $cmd in
    install) do_install ;;
    start) do_start ;;
    status) do_status ;;
    stop) do_stop ;;
    all)
        do_install
        do_start
        do_status
        ;;
    *)
        sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
