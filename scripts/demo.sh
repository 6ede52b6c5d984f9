#!/usr/bin/env bash
# make demo: a data directory in ./demo-data (created once, reused later), a
# registered model, a member with a key, and the server on 127.0.0.1:8080.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=./build/aperture
data=./demo-data
model_arg=${1:-}
listen=${APERTURE_LISTEN:-127.0.0.1:8080}

if [ ! -f "$data/aperture.db" ]; then
  mkdir -p "$data"
  owner_key=$("$bin" init --data "$data" 2>/dev/null)
  echo "$owner_key" > "$data/owner.key"
  if [ -n "$model_arg" ]; then
    model_path=$(realpath "$model_arg")
    echo "Using the model you gave: $model_path"
  else
    model_path=$(realpath "$data")/demo-model.gguf
    "$bin" model make-test --out "$model_path" --layers 2 --dim 64 --heads 4 --kv-heads 2 --ffn 128 \
      --vocab 512 --type f32 --seed 1 >/dev/null
    echo "Generated a small model with RANDOM weights at $model_path: its output is gibberish by design."
    echo "Give a real one with: make demo MODEL=path/to/model.gguf"
  fi
  "$bin" model add --data "$data" --id demo --path "$model_path" --public-level hosted
  "$bin" principal add --data "$data" --name demo-member --role member
  "$bin" key create --data "$data" --principal demo-member 2>/dev/null > "$data/member.key"
  "$bin" grant --data "$data" --principal demo-member --model demo --level api --reason "demo member" >/dev/null
  chmod 600 "$data"/*.key
fi

cat <<MSG

Aperture demo
  URL:        http://$listen
  owner key:  $(cat "$data/owner.key")
  member key: $(cat "$data/member.key")   (level api on model 'demo'; anyone else gets 'hosted')

Try:
  curl http://$listen/v1/models
  curl -H "Authorization: Bearer $(cat "$data/member.key")" http://$listen/v1/models
  curl -H "Authorization: Bearer $(cat "$data/owner.key")" http://$listen/v1/admin/principals
  curl http://$listen/v1/models/demo/openness      (how open it is, computed; /report is the signed transparency report)

Serving until Ctrl-C.
MSG
exec "$bin" serve --data "$data" --listen "$listen"
