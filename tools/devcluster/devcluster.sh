#!/usr/bin/env bash
# devcluster.sh drives the two binaries of the development cluster
# (bin/devcluster-pd and bin/devcluster-store, built by `make cluster`).
#
#   devcluster.sh start [options]   start in the background, wait until ready,
#                                   write <state>/pd-addrs (PD) and <state>/pd-shim-addrs
#                                   (the newest-API shim in front of PD), print the PD address
#   devcluster.sh run   [options]   same, in the foreground; SIGINT/SIGTERM stop it
#   devcluster.sh stop  [--state D] stop a background cluster (safe when none runs)
#
# Options: --state DIR (default .cluster), --stores N (3), --pd-port P (first free
# from 23790), --store-port P (0 = free ports), --data-dir DIR (store engine on
# disk; default in memory), --split-keys k1,k2 and --split-mode txn|raw,
# --keyspace NAME (create an API v2 keyspace, written to <state>/keyspace),
# --timeout SECONDS (60).
# Everything listens on 127.0.0.1 only. PD always starts from a fresh data
# directory under the state directory.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${DEVCLUSTER_BIN:-$here/bin}"
cmd="${1:-}"
shift || true

state=.cluster stores=3 pd_port="" store_port=0 data_dir="" split_keys="" split_mode=txn
keyspace="" timeout=60
while [ $# -gt 0 ]; do
	case "$1" in
	--state) state="$2"; shift 2 ;;
	--stores) stores="$2"; shift 2 ;;
	--pd-port) pd_port="$2"; shift 2 ;;
	--store-port) store_port="$2"; shift 2 ;;
	--data-dir) data_dir="$2"; shift 2 ;;
	--split-keys) split_keys="$2"; shift 2 ;;
	--split-mode) split_mode="$2"; shift 2 ;;
	--keyspace) keyspace="$2"; shift 2 ;;
	--timeout) timeout="$2"; shift 2 ;;
	*) echo "devcluster: unknown option $1" >&2; exit 2 ;;
	esac
done

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port_from() {
	local p="$1"
	while port_busy "$p" || port_busy "$((p + 1))" || port_busy "$((p + 10))"; do p=$((p + 1)); done
	echo "$p"
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pid FILE: SIGTERM the process, wait up to 15 s, then SIGKILL.
stop_pid() {
	local f="$1" pid i
	[ -f "$f" ] || return 0
	pid="$(cat "$f")"
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 1 150); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "devcluster: pid $pid did not stop in 15s, killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$f"
}

stop_all() {
	stop_pid "$state/shim.pid"
	stop_pid "$state/store.pid"
	stop_pid "$state/pd.pid"
	rm -rf "$state/pd-data" "$state/pd-addrs" "$state/store-addrs" "$state/pd.ready" "$state/store.ready" \
		"$state/shim.ready" "$state/pd-shim-addrs" "$state/keyspace"
}

# wait_file FILE PIDFILE WHAT: wait until FILE is non-empty while the process lives.
wait_file() {
	local f="$1" pidf="$2" what="$3" i
	for i in $(seq 1 $((timeout * 20))); do
		[ -s "$f" ] && return 0
		if ! alive "$pidf"; then
			echo "devcluster: $what exited during start-up; last log lines:" >&2
			tail -n 20 "$state/${what}.log" >&2 || true
			return 1
		fi
		sleep 0.05
	done
	echo "devcluster: $what not ready after ${timeout}s" >&2
	return 1
}

start() {
	# Any failure after this point leaves nothing running behind.
	trap 'stop_all' ERR
	for b in devcluster-pd devcluster-store devcluster-pdshim; do
		[ -x "$bin/$b" ] || { echo "devcluster: $bin/$b missing; run make cluster" >&2; exit 1; }
	done
	mkdir -p "$state"
	if alive "$state/pd.pid" || alive "$state/store.pid" || alive "$state/shim.pid"; then
		echo "devcluster: a cluster already runs (state $state); run cluster-down first" >&2
		exit 1
	fi
	stop_all
	[ -n "$pd_port" ] || pd_port="$(free_port_from 23790)"
	local t0 pd_addr
	t0=$(date +%s%N)
	pd_addr="127.0.0.1:$pd_port"
	setsid "$bin/devcluster-pd" -client-addr "$pd_addr" -peer-addr "127.0.0.1:$((pd_port + 10))" \
		-data-dir "$state/pd-data" -ready-file "$state/pd.ready" -max-replicas "$stores" \
		-log-file "$state/pd.log" >"$state/pd.out" 2>&1 </dev/null &
	echo $! >"$state/pd.pid"
	wait_file "$state/pd.ready" "$state/pd.pid" pd || { stop_all; exit 1; }
	local args=(-pd "$pd_addr" -stores "$stores" -port "$store_port" -status-port 0
		-ready-file "$state/store.ready" -log-file "$state/store.log"
		-split-mode "$split_mode")
	[ -z "$data_dir" ] || args+=(-data-dir "$data_dir")
	[ -z "$split_keys" ] || args+=(-split-keys "$split_keys")
	[ -z "$keyspace" ] || args+=(-keyspace "$keyspace")
	setsid "$bin/devcluster-store" "${args[@]}" >"$state/store.out" 2>&1 </dev/null &
	echo $! >"$state/store.pid"
	wait_file "$state/store.ready" "$state/store.pid" store || { stop_all; exit 1; }
	setsid "$bin/devcluster-pdshim" -listen "127.0.0.1:$((pd_port + 1))" -pd "$pd_addr" \
		-ready-file "$state/shim.ready" >"$state/shim.log" 2>&1 </dev/null &
	echo $! >"$state/shim.pid"
	wait_file "$state/shim.ready" "$state/shim.pid" shim || { stop_all; exit 1; }
	cp "$state/shim.ready" "$state/pd-shim-addrs"
	cp "$state/store.ready" "$state/store-addrs"
	if [ -n "$keyspace" ]; then echo "$keyspace" >"$state/keyspace"; else rm -f "$state/keyspace"; fi
	echo "$pd_addr" >"$state/pd-addrs"
	echo "devcluster: PD $pd_addr (newest-API shim $(cat "$state/pd-shim-addrs")), $stores store(s) ready in $((($(date +%s%N) - t0) / 1000000)) ms" >&2
	echo "TIKV_PD_ADDRS=$pd_addr"
	trap - ERR
}

case "$cmd" in
start) start ;;
stop) stop_all ;;
run)
	start
	trap 'stop_all; exit 0' INT TERM
	while alive "$state/pd.pid" && alive "$state/store.pid" && alive "$state/shim.pid"; do sleep 1; done
	echo "devcluster: a process exited; stopping" >&2
	stop_all
	exit 1
	;;
*)
	sed -n '2,16p' "$0" >&2
	exit 2
	;;
esac
