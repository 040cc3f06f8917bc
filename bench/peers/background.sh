# shellcheck shell=bash
# Sourced by the peers' start.sh for --background: starts a server, waits until it accepts on
# 127.0.0.1:PORT, prints its pid.
start_background() { # NAME PORT LOGFILE COMMAND...
    local name=$1 port=$2 log=$3
    shift 3
    "$@" >"$log" 2>&1 &
    local pid=$!
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$pid"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "$name peer: did not come up (output in $log)" >&2
    kill "$pid" 2>/dev/null || true
    return 1
}
