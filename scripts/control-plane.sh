#!/usr/bin/env bash
# A real Kubernetes control plane on loopback for the end-to-end tests (test/e2e/):
# etcd (Debian's etcd-server), kube-apiserver and kube-scheduler v1.20.2.
#
#   scripts/control-plane.sh build           the kube binaries: cached, or built once from
#                                            Debian 12's `kubernetes` source package (~10 min)
#   scripts/control-plane.sh bin             prints the folder with the cached binaries, or fails
#   scripts/control-plane.sh start DIR       starts etcd + kube-apiserver (self-signed TLS, static
#                                            tokens, RBAC) with state/logs in DIR; writes DIR/env
#   scripts/control-plane.sh scheduler DIR NAME CONFIG
#                                            starts a kube-scheduler with the given
#                                            KubeSchedulerConfiguration; PID in DIR/NAME.pid
#   scripts/control-plane.sh stop DIR        stops every process started in DIR, by PID
#
# Everything listens on 127.0.0.1 only, on free ports. The cache lives outside the repository:
# ${GPUSCHED_CACHE:-$HOME/.cache/gpusched}/kubernetes-1.20.2/bin.
#
# Why the build is not a plain `make`: the vendored github.com/modern-go/reflect2 v1.0.1 makes
# kube-apiserver panic on every write with Go >= 1.18, so it is replaced by Debian's 1.0.2 (same
# API) before building with Debian's Go.
set -euo pipefail

KUBE_VERSION=1.20.2
CACHE_ROOT=${GPUSCHED_CACHE:-$HOME/.cache/gpusched}
KUBE_CACHE=$CACHE_ROOT/kubernetes-$KUBE_VERSION
KUBE_BIN=$KUBE_CACHE/bin
REFLECT2=/usr/share/gocode/src/github.com/modern-go/reflect2
SRC_PACKAGE=kubernetes

log() { echo "control-plane: $*" >&2; }
die() { log "$*"; exit 1; }
skip() { log "SKIP: $*"; exit 77; }  # ctest's SKIP_RETURN_CODE: this machine cannot build them

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root (or sudo) for: $*"; fi
}

have_binaries() {
  [ -x "$KUBE_BIN/kube-apiserver" ] && [ -x "$KUBE_BIN/kube-scheduler" ]
}

# apt-get source needs a deb-src entry; Debian 12 images ship only deb ones.
ensure_deb_src() {
  if apt-cache showsrc "$SRC_PACKAGE" >/dev/null 2>&1 &&
     [ -n "$(apt-cache showsrc "$SRC_PACKAGE" 2>/dev/null)" ]; then
    return 0
  fi
  log "adding a deb-src entry for bookworm (/etc/apt/sources.list.d/gpusched-deb-src.sources)"
  as_root tee /etc/apt/sources.list.d/gpusched-deb-src.sources >/dev/null <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  as_root apt-get update -qq
}

cmd_build() {
  if have_binaries; then
    log "using cached kube-apiserver and kube-scheduler in $KUBE_BIN"
    return 0
  fi
  for tool in go dpkg-source make rsync; do
    command -v "$tool" >/dev/null 2>&1 || skip "$tool missing (run scripts/install-deps.sh)"
  done
  [ -d "$REFLECT2" ] || skip "$REFLECT2 missing (golang-github-modern-go-reflect2-dev)"
  ensure_deb_src || skip "no deb-src entry for bookworm and none could be added"
  local start=$SECONDS
  local work=$KUBE_CACHE/work
  rm -rf "$work"
  mkdir -p "$work"
  log "fetching the Debian source package $SRC_PACKAGE into $work"
  (cd "$work" && apt-get source -qq "$SRC_PACKAGE" >/dev/null) ||
    skip "apt-get source $SRC_PACKAGE failed (no network access to Debian's sources?)"
  local src
  src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name "$SRC_PACKAGE-*" | head -n 1)
  [ -n "$src" ] && [ -d "$src/vendor" ] || die "no unpacked source tree with vendor/ in $work"
  log "replacing vendored reflect2 with Debian's ($REFLECT2)"
  rm -rf "$src/vendor/github.com/modern-go/reflect2"
  mkdir -p "$src/vendor/github.com/modern-go/reflect2"
  find "$REFLECT2" -maxdepth 1 -type f ! -name '*_test.go' \
    -exec cp {} "$src/vendor/github.com/modern-go/reflect2/" \;
  log "building kube-apiserver and kube-scheduler (CGO_ENABLED=0, nice; several minutes)"
  local gocache=$work/gocache
  (
    cd "$src"
    export CGO_ENABLED=0 GOFLAGS=-mod=vendor GO111MODULE=on GOCACHE=$gocache \
      GOPATH=$work/gopath GOTOOLCHAIN=local
    export KUBE_GIT_VERSION=v$KUBE_VERSION KUBE_GIT_TREE_STATE=clean KUBE_GIT_COMMIT=debian
    nice -n 10 make WHAT="cmd/kube-apiserver cmd/kube-scheduler" \
      GOFLAGS=-mod=vendor KUBE_BUILD_PLATFORMS=linux/amd64 >"$work/build.log" 2>&1
  ) || { tail -n 60 "$work/build.log" >&2; die "kube build failed (log: $work/build.log)"; }
  local out
  out=$(find "$src/_output" -type f -name kube-apiserver -perm -u+x | head -n 1)
  [ -n "$out" ] || die "kube-apiserver not found under $src/_output"
  mkdir -p "$KUBE_BIN.tmp"
  cp "$(dirname "$out")/kube-apiserver" "$(dirname "$out")/kube-scheduler" "$KUBE_BIN.tmp/"
  rm -rf "$KUBE_BIN"
  mv "$KUBE_BIN.tmp" "$KUBE_BIN"
  chmod -R go+rX "$KUBE_CACHE" 2>/dev/null || true
  chmod -R u+w "$work" 2>/dev/null || true
  rm -rf "$work"
  log "built in $((SECONDS - start)) s; binaries in $KUBE_BIN"
}

cmd_bin() {
  have_binaries || return 1
  echo "$KUBE_BIN"
}

# N free TCP ports on 127.0.0.1, one per line (bound and released; the caller binds them soon).
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print("\n".join(str(s.getsockname()[1]) for s in socks))
for s in socks: s.close()
PY
}

# Waits until `curl ARGS` succeeds, or fails when process PID dies or TIMEOUT seconds pass.
wait_for() {
  local what=$1 pid=$2 timeout=$3; shift 3
  local deadline=$((SECONDS + timeout))
  until curl -fsS -o /dev/null --max-time 5 "$@" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then log "$what exited during startup"; return 1; fi
    if [ $SECONDS -ge $deadline ]; then log "$what not healthy after ${timeout}s"; return 1; fi
    sleep 0.5
  done
}

# Starts COMMAND... in the background, output in DIR/NAME.log, PID in DIR/NAME.pid.
spawn() {
  local dir=$1 name=$2; shift 2
  "$@" >"$dir/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/$name.pid"
}

write_kubeconfig() {  # FILE TOKEN
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: $DIR/pki/ca.crt
users:
- name: u
  user:
    token: $2
contexts:
- name: e2e
  context: {cluster: e2e, user: u}
current-context: e2e
EOF
}

cmd_start() {
  DIR=${1:?start needs a state folder}
  local bin
  bin=$(cmd_bin) || die "no kube binaries in $KUBE_BIN (run: $0 build)"
  command -v etcd >/dev/null 2>&1 || die "etcd missing (apt-get install etcd-server)"
  mkdir -p "$DIR/pki" "$DIR/etcd-data"
  DIR=$(cd "$DIR" && pwd)
  local ports
  mapfile -t ports < <(free_ports 3)
  local etcd_port=${ports[0]} peer_port=${ports[1]}
  API_PORT=${ports[2]}

  # A self-signed CA and a serving certificate for 127.0.0.1; a key pair for service accounts.
  local pki=$DIR/pki
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=gpusched-e2e-ca \
    -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver \
    -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$pki/san.ext"
  openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
    -CAcreateserial -days 2 -extfile "$pki/san.ext" -out "$pki/apiserver.crt" 2>/dev/null
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null

  # Static tokens: an admin; the ServiceAccount of deploy/base/rbac.yaml as the API server sees
  # a ServiceAccount token (user system:serviceaccount:NS:NAME, groups system:serviceaccounts*);
  # system:kube-scheduler for the stock scheduler of the baseline.
  local admin_token sa_token ks_token
  admin_token=$(openssl rand -hex 16); sa_token=$(openssl rand -hex 16)
  ks_token=$(openssl rand -hex 16)
  cat >"$pki/tokens.csv" <<EOF
$admin_token,e2e-admin,e2e-admin,"system:masters"
$sa_token,system:serviceaccount:gpusched-system:gpusched-scheduler,e2e-sa-uid,"system:serviceaccounts,system:serviceaccounts:gpusched-system"
$ks_token,system:kube-scheduler,e2e-kube-scheduler,""
EOF
  chmod 600 "$pki"/*.key "$pki/tokens.csv"
  write_kubeconfig "$DIR/admin.kubeconfig" "$admin_token"
  write_kubeconfig "$DIR/gpusched.kubeconfig" "$sa_token"
  write_kubeconfig "$DIR/kube-scheduler.kubeconfig" "$ks_token"

  local fsync=()
  etcd --help 2>&1 | grep -q -- --unsafe-no-fsync && fsync=(--unsafe-no-fsync)
  spawn "$DIR" etcd etcd --name e2e --data-dir "$DIR/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "e2e=http://127.0.0.1:$peer_port" "${fsync[@]}"
  wait_for etcd "$(cat "$DIR/etcd.pid")" 30 "http://127.0.0.1:$etcd_port/health" ||
    { tail -n 30 "$DIR/etcd.log" >&2; return 1; }

  spawn "$DIR" kube-apiserver "$bin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 \
    --secure-port "$API_PORT" --insecure-port 0 \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --token-auth-file "$pki/tokens.csv" --authorization-mode RBAC \
    --service-account-key-file "$pki/sa.key" \
    --service-account-signing-key-file "$pki/sa.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --api-audiences https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range 10.96.0.0/24 \
    --endpoint-reconciler-type none --cert-dir "$pki" --profiling=false \
    --max-requests-inflight 1000 --max-mutating-requests-inflight 500 --v 1
  wait_for kube-apiserver "$(cat "$DIR/kube-apiserver.pid")" 120 --cacert "$pki/ca.crt" \
    -H "Authorization: Bearer $admin_token" "https://127.0.0.1:$API_PORT/readyz" ||
    { tail -n 40 "$DIR/kube-apiserver.log" >&2; return 1; }

  cat >"$DIR/env" <<EOF
KUBE_API=https://127.0.0.1:$API_PORT
KUBE_CA=$pki/ca.crt
KUBE_ADMIN_TOKEN=$admin_token
KUBE_SA_TOKEN=$sa_token
KUBE_SCHEDULER_TOKEN=$ks_token
ETCD_URL=http://127.0.0.1:$etcd_port
KUBE_BIN=$bin
EOF
  log "etcd on 127.0.0.1:$etcd_port, kube-apiserver on https://127.0.0.1:$API_PORT (state in $DIR)"
}

# A kube-scheduler with CONFIG (a KubeSchedulerConfiguration naming its kubeconfig), its secure
# port (/healthz) on a free loopback port written to DIR/NAME.port.
cmd_scheduler() {
  local dir=${1:?} name=${2:?} config=${3:?}
  local bin port
  bin=$(cmd_bin) || die "no kube binaries in $KUBE_BIN"
  port=$(free_ports 1)
  spawn "$dir" "$name" "$bin/kube-scheduler" --config "$config" \
    --bind-address 127.0.0.1 --secure-port "$port" --cert-dir "$dir/$name-certs" --v 2
  wait_for "$name" "$(cat "$dir/$name.pid")" 60 -k "https://127.0.0.1:$port/healthz" ||
    { tail -n 40 "$dir/$name.log" >&2; return 1; }
  echo "$port" >"$dir/$name.port"
  log "$name up (https://127.0.0.1:$port/healthz)"
}

# Stops every process with a PID file in DIR: TERM, then KILL after 10 s; kube-apiserver and
# etcd last.
cmd_stop() {
  local dir=${1:?stop needs the state folder}
  [ -d "$dir" ] || return 0
  local f pid order=()
  for f in "$dir"/*.pid; do
    [ -e "$f" ] || continue
    case "$(basename "$f")" in kube-apiserver.pid|etcd.pid) ;; *) order+=("$f") ;; esac
  done
  [ -e "$dir/kube-apiserver.pid" ] && order+=("$dir/kube-apiserver.pid")
  [ -e "$dir/etcd.pid" ] && order+=("$dir/etcd.pid")
  for f in "${order[@]}"; do
    pid=$(cat "$f" 2>/dev/null) || continue
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      if kill -0 "$pid" 2>/dev/null; then
        log "$(basename "$f" .pid) ($pid) ignored TERM; killing it"
        kill -KILL "$pid" 2>/dev/null || true
      fi
    fi
    rm -f "$f"
  done
}

case "${1:-}" in
  build) cmd_build ;;
  bin) cmd_bin ;;
  start) shift; cmd_start "$@" ;;
  scheduler) shift; cmd_scheduler "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  *) echo "usage: $0 build|bin|start DIR|scheduler DIR NAME CONFIG|stop DIR" >&2; exit 2 ;;
esac
