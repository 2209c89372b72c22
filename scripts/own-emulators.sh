# Sourced by scripts/bench.sh and scripts/bench-peer.sh: emulators of their own, on four
# ports the kernel says are free now (beside the tests' and each other's), their state and
# endpoints under $STATE. The caller starts them and stops them on exit.

read -r dynamodb moto kinesis kinesis_tls < <(python3 - <<'PY'
import socket
sockets = [socket.socket() for _ in range(4)]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in sockets))
for s in sockets:
    s.close()
PY
)

export UNTHROTTLE_EMULATORS_STATE=$STATE/emulators
export UNTHROTTLE_EMULATORS_ENV=$STATE/emulators.env
export UNTHROTTLE_DYNAMODB_PORT=$dynamodb UNTHROTTLE_MOTO_PORT=$moto
export UNTHROTTLE_KINESIS_PORT=$kinesis UNTHROTTLE_KINESIS_TLS_PORT=$kinesis_tls
