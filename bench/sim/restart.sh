#!/bin/bash
# usage: AGORA=path/to/agora bench/sim/restart.sh N PORT [SUBSCRIBE_RATE]
#
# One `agora master` (registry on a work_dir) and `agora sim --agents=N`:
# time until all N agents are active, the RSS of both, then kill -9 of the
# master and a restart on the same work_dir and port: time until all are
# active again. It leaves the master and the sim running (pids in $D).
# Each process needs `ulimit -n` above N+1000 (it sets 20000).
N=$1; PORT=$2; RATE=${3:-500}
D=${WORK:-/tmp/agora-bench-sim}/run$N; rm -rf $D; mkdir -p $D
A=${AGORA:-agora}
ulimit -n 20000
$A master --port=$PORT --work_dir=$D/m --log_level=warn > $D/master.log 2>&1 &
MP=$!; echo $MP > $D/master.pid
until curl -sf 127.0.0.1:$PORT/health >/dev/null; do sleep 0.05; done
active() { curl -s 127.0.0.1:$PORT/metrics/snapshot | tr ',' '\n' | grep '"master/slaves_active"' | sed 's/.*://; s/\..*//'; }
$A sim --master=127.0.0.1:$PORT --agents=$N --subscribe_rate=$RATE --progress_interval=5s > $D/sim.log 2>&1 &
SP=$!; echo $SP > $D/sim.pid
T0=$(date +%s.%N)
until [ "$(active)" = "$N" ]; do sleep 0.05; done
T1=$(date +%s.%N)
echo "all $N active after $(echo "$T1 - $T0" | bc) s (subscribe_rate $RATE)"
sleep 2
echo "master RSS $(grep VmRSS /proc/$MP/status)  HWM $(grep VmHWM /proc/$MP/status)"
echo "sim RSS $(grep VmRSS /proc/$SP/status)"
kill -9 $MP; wait $MP 2>/dev/null
T2=$(date +%s.%N)
$A master --port=$PORT --work_dir=$D/m --log_level=warn > $D/master2.log 2>&1 &
MP=$!; echo $MP > $D/master.pid
until curl -sf 127.0.0.1:$PORT/health >/dev/null; do sleep 0.02; done
T3=$(date +%s.%N)
until [ "$(active)" = "$N" ]; do sleep 0.05; done
T4=$(date +%s.%N)
echo "restart: kill -9 → master serving $(echo "$T3 - $T2" | bc) s; → all $N active again $(echo "$T4 - $T2" | bc) s"
sleep 1
echo "master RSS after restart $(grep VmRSS /proc/$MP/status)"
