#!/usr/bin/env bash
# make demo: a populated data directory in ./demo-data (created once, reused
# later) and the server with its web interface on 127.0.0.1:8080:
# examples/policy.toml in force, a model (../shared/models/stories260K.gguf
# when it exists, else a generated one), its card, evaluation runs of the
# policy's suites, a researcher with a research grant, a member with an api
# grant and a pending access request. Prints the URL and the keys.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=./build/aperture
data=./demo-data
model_arg=${1:-}
listen=${APERTURE_LISTEN:-127.0.0.1:8080}
policy=examples/policy.toml
fresh=0

if [ ! -f "$data/aperture.db" ]; then
  fresh=1
  mkdir -p "$data"
  owner_key=$("$bin" init --data "$data" 2>/dev/null)
  echo "$owner_key" > "$data/owner.key"
  if [ -n "$model_arg" ]; then
    model_path=$(realpath "$model_arg")
    echo "Using the model you gave: $model_path"
  elif [ -f ../shared/models/stories260K.gguf ]; then
    model_path=$(realpath ../shared/models/stories260K.gguf)
    echo "Using the small story model $model_path"
  else
    model_path=$(realpath "$data")/demo-model.gguf
    "$bin" model make-test --out "$model_path" --layers 2 --dim 64 --heads 4 --kv-heads 2 --ffn 128 \
      --vocab 512 --type f32 --seed 1 >/dev/null
    echo "Generated a small model with RANDOM weights at $model_path: its output is gibberish by design."
    echo "Give a real one with: make demo MODEL=path/to/model.gguf"
  fi
  "$bin" model add --data "$data" --id demo --path "$model_path" --public-level hosted >/dev/null
  "$bin" model set-request-fields --data "$data" --id demo --fields \
    '[{"name":"affiliation","type":"text","required":true},{"name":"use","type":"select","options":["research","teaching","product"],"required":true},{"name":"terms","type":"checkbox","required":true}]' >/dev/null
  "$bin" policy use --data "$data" "$policy" >/dev/null
  # The evidence the policy asks for: every suite it names, run on the model.
  for suite in hazard_proxy_placeholder reading arithmetic; do
    "$bin" eval run --data "$data" --model demo --suite "examples/suites/$suite.jsonl" >/dev/null 2>&1
  done
  "$bin" principal add --data "$data" --name demo-researcher --role member >/dev/null
  "$bin" key create --data "$data" --principal demo-researcher 2>/dev/null > "$data/researcher.key"
  "$bin" grant --data "$data" --principal demo-researcher --model demo --level research --expires 30d \
    --reason "interpretability study" >/dev/null
  "$bin" principal add --data "$data" --name demo-member --role member >/dev/null
  "$bin" key create --data "$data" --principal demo-member 2>/dev/null > "$data/member.key"
  "$bin" grant --data "$data" --principal demo-member --model demo --level api --reason "app developer" >/dev/null
  "$bin" principal add --data "$data" --name demo-reviewer --role reviewer >/dev/null
  "$bin" key create --data "$data" --principal demo-reviewer 2>/dev/null > "$data/reviewer.key"
  "$bin" principal add --data "$data" --name demo-applicant --role member >/dev/null
  "$bin" key create --data "$data" --principal demo-applicant 2>/dev/null > "$data/applicant.key"
  chmod 600 "$data"/*.key
fi

"$bin" serve --data "$data" --listen "$listen" --policy "$policy" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' INT TERM EXIT
for _ in $(seq 1 100); do
  curl -fs "http://$listen/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

if [ "$fresh" = 1 ]; then
  # What only the API does: the model card, and a request waiting for a reviewer.
  card=$(python3 -c 'import json,sys; print(json.dumps({"card": open(sys.argv[1]).read()}))' examples/model_card.md)
  curl -fs -H "Authorization: Bearer $(cat "$data/owner.key")" "http://$listen/v1/admin/models/demo/card" \
    -d "$card" >/dev/null
  curl -fs -H "Authorization: Bearer $(cat "$data/applicant.key")" "http://$listen/v1/access-requests" \
    -d '{"model":"demo","level":"research","justification":"I study how small models learn grammar.","fields":{"affiliation":"Example University","use":"research","terms":true}}' >/dev/null
fi

cat <<MSG

Aperture demo: open http://$listen in a browser (localhost is a secure
context, so the log page can verify signatures with WebCrypto).

Sign in with one of these keys (http://$listen/signin):
  owner:      $(cat "$data/owner.key")   (console: queue, release, evaluations, policy)
  reviewer:   $(cat "$data/reviewer.key")   (console: the access queue)
  researcher: $(cat "$data/researcher.key")   (research on 'demo', 30 days: http://$listen/models/demo/research)
  member:     $(cat "$data/member.key")   (api on 'demo')
  applicant:  $(cat "$data/applicant.key")   (has a pending request for research)
Anyone else chats with 'demo' at its public level, hosted.

Try:
  curl http://$listen/v1/models/demo/release
  curl -H "Authorization: Bearer $(cat "$data/member.key")" http://$listen/v1/me
  curl http://$listen/v1/models/demo/openness      (how open it is, computed; /report is the signed transparency report)

Serving until Ctrl-C.
MSG
wait $server
