#!/usr/bin/env bash
# The secrets of the UI proxy (compose): a TLS certificate and an htpasswd file with a first user.
# Usage: infra/compose/make-ui-secrets.sh USER [HOSTNAME]      (asks for the password twice)
#        RADLAKE_UI_PASSWORD=... infra/compose/make-ui-secrets.sh USER [HOSTNAME]   (non-interactive)
# Writes infra/compose/secrets/ui.crt, ui.key (self-signed for HOSTNAME; replace them with the hospital CA's
# certificate when there is one) and ui.htpasswd (SHA-512 crypt). Add a user: run it again with another USER
# (existing users are kept). The folder is 0700 and never committed.
set -euo pipefail

USER_NAME="${1:?usage: make-ui-secrets.sh USER [HOSTNAME]}"
HOST="${2:-$(hostname -f 2>/dev/null || hostname)}"
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/secrets"
case "$USER_NAME" in
  *:*|*[[:space:]]*) echo "make-ui-secrets.sh: a user name has no ':' and no spaces" >&2; exit 2 ;;
esac

mkdir -p "$DIR"
chmod 0700 "$DIR"

if [ ! -s "$DIR/ui.key" ]; then
  openssl req -x509 -newkey rsa:3072 -nodes -days 825 -subj "/CN=${HOST}" \
    -addext "subjectAltName=DNS:${HOST}" -keyout "$DIR/ui.key" -out "$DIR/ui.crt" 2>/dev/null
  chmod 0600 "$DIR/ui.key"
  chmod 0644 "$DIR/ui.crt"
  echo "self-signed certificate for ${HOST} in $DIR/ui.crt"
fi

password="${RADLAKE_UI_PASSWORD:-}"
if [ -z "$password" ]; then
  read -r -s -p "password for ${USER_NAME}: " password; echo
  read -r -s -p "again: " again; echo
  [ "$password" = "$again" ] || { echo "make-ui-secrets.sh: the passwords differ" >&2; exit 2; }
fi
[ "${#password}" -ge 12 ] || { echo "make-ui-secrets.sh: use at least 12 characters" >&2; exit 2; }

hash="$(printf '%s' "$password" | openssl passwd -6 -stdin)"
touch "$DIR/ui.htpasswd"
# nginx's worker (not root) reads this file on each request; it holds salted hashes only.
chmod 0644 "$DIR/ui.htpasswd"
grep -v "^${USER_NAME}:" "$DIR/ui.htpasswd" > "$DIR/ui.htpasswd.new" || true
printf '%s:%s\n' "$USER_NAME" "$hash" >> "$DIR/ui.htpasswd.new"
mv "$DIR/ui.htpasswd.new" "$DIR/ui.htpasswd"
echo "user ${USER_NAME} in $DIR/ui.htpasswd"
