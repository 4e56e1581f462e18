#!/usr/bin/env bash
# Starts the real servers that the distributed-mode test suites need, all on 127.0.0.1:
#   - RabbitMQ (amqp 5672) with its management plugin (HTTP 15672, bound to loopback);
#   - FerretDB 1.24 (MongoDB wire protocol, port FERRETDB_PORT, default 27018), embedded in
#     services/ferretdb (built here into services/ferretdb/bin/ferretdb when missing or stale),
#     restarted on an EMPTY backend every time;
#   - PostgreSQL, only when FERRETDB_BACKEND=postgresql.
# Then prints and exports MONGODB_URL, RABBITMQ_URL and RABBITMQ_MANAGEMENT_URL.
#
# Use: `source .ci/services.sh` (to get the variables) or `bash .ci/services.sh`. Idempotent.
# Environment: FERRETDB_BACKEND=postgresql|sqlite (default postgresql: see services/ferretdb/README.md),
#              FERRETDB_PORT (default 27018).
set -euo pipefail

_svc_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_svc_ferret_dir="$_svc_root/services/ferretdb"
_svc_bin="$_svc_ferret_dir/bin/ferretdb"
_svc_run="$_svc_ferret_dir/run"
_svc_backend="${FERRETDB_BACKEND:-postgresql}"
_svc_port="${FERRETDB_PORT:-27018}"
_svc_pg_db="ferretdb_ci_${_svc_port}" # one per port: two checkouts never drop each other's

_svc_log() { echo "== services: $*" >&2; }
_svc_fail() { echo "== services: ERROR: $*" >&2; return 1; }

# _svc_wait SECONDS DESCRIPTION COMMAND...: runs COMMAND until it succeeds, for at most SECONDS.
_svc_wait() {
  local limit=$1 what=$2 start=$SECONDS
  shift 2
  until "$@" >/dev/null 2>&1; do
    if (( SECONDS - start >= limit )); then
      _svc_fail "$what did not come up within ${limit}s"
      return 1
    fi
    sleep 1
  done
  _svc_log "$what is up ($((SECONDS - start))s)"
}

_svc_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---------------------------------------------------------------------------------------------
# FerretDB binary
_svc_build_ferretdb() {
  local src stale=0
  if [[ ! -x "$_svc_bin" ]]; then
    stale=1
  else
    for src in main.go go.mod go.sum; do
      if [[ "$_svc_ferret_dir/$src" -nt "$_svc_bin" ]]; then stale=1; fi
    done
  fi
  if (( stale == 0 )); then
    _svc_log "FerretDB binary is up to date"
    return 0
  fi
  local go_cmd
  go_cmd="$(command -v go || true)"
  [[ -n "$go_cmd" ]] || go_cmd=/usr/local/go/bin/go
  [[ -x "$go_cmd" ]] || { _svc_fail "Go not found (looked in PATH and /usr/local/go/bin)"; return 1; }
  _svc_log "building FerretDB into services/ferretdb/bin/ (a first build takes 1-2 minutes)"
  local start=$SECONDS
  mkdir -p "$_svc_ferret_dir/bin"
  # Build to a temporary name, so an interrupted build never leaves a binary that looks fresh.
  (cd "$_svc_ferret_dir" && "$go_cmd" build -mod=readonly -buildvcs=false -trimpath -o bin/ferretdb.tmp .)
  mv -f "$_svc_ferret_dir/bin/ferretdb.tmp" "$_svc_bin"
  _svc_log "FerretDB built in $((SECONDS - start))s"
}

# ---------------------------------------------------------------------------------------------
# RabbitMQ
_svc_rabbit_loopback_conf() {
  # For nodes that boot from here on: keep the management listener on loopback (its default is
  # 0.0.0.0). rabbitmq.conf's conf.d directory is read at boot only.
  local dir=/etc/rabbitmq/conf.d file=/etc/rabbitmq/conf.d/90-management-loopback.conf
  local want=$'# Written by .ci/services.sh: management UI on loopback only.\nmanagement.tcp.ip = 127.0.0.1\nmanagement.tcp.port = 15672'
  [[ -d /etc/rabbitmq ]] || return 0
  if [[ ! -f "$file" || "$(cat "$file")" != "$want" ]]; then
    mkdir -p "$dir" && printf '%s\n' "$want" >"$file"
  fi
}

_svc_mgmt_public() {
  # True when something listens on 15672 on an address other than loopback.
  command -v ss >/dev/null 2>&1 || return 1
  ss -Hltn 'sport = :15672' 2>/dev/null | awk '{print $4}' | grep -Eqv '^(127\.|\[::1\])'
}

_svc_start_rabbitmq() {
  _svc_rabbit_loopback_conf
  if rabbitmq-diagnostics -q ping >/dev/null 2>&1; then
    _svc_log "RabbitMQ is running"
  else
    _svc_log "starting RabbitMQ"
    rabbitmq-server -detached
    _svc_wait 60 RabbitMQ rabbitmq-diagnostics -q ping
  fi

  local overview=(curl -sf -m 5 -u guest:guest http://127.0.0.1:15672/api/overview)
  if _svc_mgmt_public; then
    _svc_log "RabbitMQ management listens beyond loopback: restarting the plugin on 127.0.0.1"
    rabbitmq-plugins disable rabbitmq_management >/dev/null
  elif "${overview[@]}" >/dev/null 2>&1; then
    _svc_log "RabbitMQ management is up"
    return 0
  fi
  # A running node ignores the config files when a plugin is enabled online: set the listener in
  # its application environment first (persistent, so loading the plugin does not reset it).
  rabbitmqctl -q eval \
    'application:set_env(rabbitmq_management, tcp_config, [{ip, "127.0.0.1"}, {port, 15672}], [{persistent, true}]).' >/dev/null
  rabbitmq-plugins -q enable rabbitmq_management >/dev/null
  _svc_wait 60 "RabbitMQ management" "${overview[@]}"
  if _svc_mgmt_public; then
    _svc_fail "RabbitMQ management listens beyond loopback; see: ss -ltn 'sport = :15672'"
    return 1
  fi
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL (only for the postgresql backend)
_svc_start_postgresql() {
  if pg_isready -q -h 127.0.0.1; then
    _svc_log "PostgreSQL is running"
  else
    _svc_log "starting PostgreSQL"
    # shellcheck disable=SC2046
    pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start
    _svc_wait 60 PostgreSQL pg_isready -q -h 127.0.0.1
  fi
}

# ---------------------------------------------------------------------------------------------
# FerretDB process
_svc_is_ours() {
  # True when pid $1 runs this checkout's FerretDB binary listening on our port.
  local arg first=1 ours=1 port=1
  [[ "$1" =~ ^[0-9]+$ && -r "/proc/$1/cmdline" ]] || return 1
  while IFS= read -r -d '' arg; do
    if (( first )); then
      [[ "$arg" == "$_svc_bin" ]] && ours=0
      first=0
    elif [[ "$arg" == "127.0.0.1:$_svc_port" ]]; then
      port=0
    fi
  done 2>/dev/null <"/proc/$1/cmdline"
  (( ours == 0 && port == 0 ))
}

_svc_stop_ferretdb() {
  local pidfile="$_svc_run/ferretdb.pid" pid pids=() i proc
  [[ -f "$pidfile" ]] && pids+=("$(cat "$pidfile")")
  # Also one whose pid file was lost: same binary path (this checkout), same port.
  for proc in /proc/[0-9]*; do
    pids+=("${proc#/proc/}")
  done
  for pid in "${pids[@]}"; do
    _svc_is_ours "$pid" || continue
    _svc_log "stopping the previous FerretDB (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
    fi
  done
  rm -f "$pidfile"
}

_svc_start_ferretdb() {
  mkdir -p "$_svc_run"
  _svc_stop_ferretdb
  if _svc_port_open "$_svc_port"; then
    _svc_fail "port 127.0.0.1:$_svc_port is taken by a process this script did not start; set FERRETDB_PORT"
    return 1
  fi

  local args=(--listen "127.0.0.1:$_svc_port" --backend "$_svc_backend")
  case "$_svc_backend" in
    sqlite)
      rm -rf "$_svc_run/sqlite"
      mkdir -p "$_svc_run/sqlite"
      args+=(--sqlite-dir "$_svc_run/sqlite")
      ;;
    postgresql)
      _svc_start_postgresql
      PGOPTIONS="-c client_min_messages=warning" psql -q -X -h 127.0.0.1 -U postgres -d postgres -v ON_ERROR_STOP=1 \
        -c "DROP DATABASE IF EXISTS $_svc_pg_db WITH (FORCE)" -c "CREATE DATABASE $_svc_pg_db" >/dev/null
      args+=(--postgresql-url "postgres://postgres@127.0.0.1:5432/$_svc_pg_db")
      ;;
    *)
      _svc_fail "FERRETDB_BACKEND must be sqlite or postgresql, got '$_svc_backend'"
      return 1
      ;;
  esac

  _svc_log "starting FerretDB ($_svc_backend backend) on 127.0.0.1:$_svc_port, log: services/ferretdb/run/ferretdb.log"
  nohup "$_svc_bin" "${args[@]}" >"$_svc_run/ferretdb.log" 2>&1 </dev/null &
  local pid=$!
  disown "$pid" 2>/dev/null || true
  echo "$pid" >"$_svc_run/ferretdb.pid"

  local start=$SECONDS
  until _svc_port_open "$_svc_port"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      cat "$_svc_run/ferretdb.log" >&2 || true
      _svc_fail "FerretDB exited at start (log above)"
      return 1
    fi
    if (( SECONDS - start >= 30 )); then
      _svc_fail "FerretDB did not listen on 127.0.0.1:$_svc_port within 30s"
      return 1
    fi
    sleep 0.2
  done
  _svc_log "FerretDB is up (pid $pid)"
}

# ---------------------------------------------------------------------------------------------
_svc_build_ferretdb
_svc_start_rabbitmq
_svc_start_ferretdb

export MONGODB_URL="mongodb://127.0.0.1:$_svc_port/"
export RABBITMQ_URL="amqp://guest:guest@127.0.0.1:5672"
export RABBITMQ_MANAGEMENT_URL="http://guest:guest@127.0.0.1:15672"
echo "MONGODB_URL=$MONGODB_URL"
echo "RABBITMQ_URL=$RABBITMQ_URL"
echo "RABBITMQ_MANAGEMENT_URL=$RABBITMQ_MANAGEMENT_URL"

unset -f _svc_log _svc_fail _svc_wait _svc_port_open _svc_build_ferretdb _svc_rabbit_loopback_conf \
  _svc_mgmt_public _svc_start_rabbitmq _svc_start_postgresql _svc_is_ours _svc_stop_ferretdb _svc_start_ferretdb
unset _svc_root _svc_ferret_dir _svc_bin _svc_run _svc_backend _svc_port _svc_pg_db
