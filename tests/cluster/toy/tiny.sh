# One trivial job of the toy workflow: the value job.py computes, written by the shell.
#   sh tiny.sh INDEX SEED_FILE OUTPUT
seed=$(cat "$2")
printf '{"index": %s, "value": %s, "node": "%s"}\n' "$1" $(( (seed * 2654435761 + $1 * 40503) % 1000003 )) \
  "${SEEDSIFT_NODE-}" > "$3.tmp" && mv "$3.tmp" "$3"
