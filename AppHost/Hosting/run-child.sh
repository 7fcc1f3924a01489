#!/bin/sh
# Runs a resource's command on behalf of the AppHost so that it never outlives the AppHost:
#   run-child.sh <apphost-pid> <command> [args...]
# SIGTERM/SIGINT are forwarded to the command (graceful stop); if the AppHost dies, even by SIGKILL, the
# watcher kills the command within half a second. The command's exit code becomes this script's.
parent=$1
shift
"$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM
trap 'kill -INT "$child" 2>/dev/null' INT
(
  trap 'kill "$nap" 2>/dev/null; exit 0' TERM
  while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do
    sleep 0.5 &
    nap=$!
    wait "$nap"
  done
  kill -KILL "$child" 2>/dev/null
) &
watcher=$!
while :; do
  wait "$child"
  code=$?
  # `wait` also returns when a trapped signal arrives: keep waiting while the command is alive.
  kill -0 "$child" 2>/dev/null || break
done
kill "$watcher" 2>/dev/null
wait "$watcher" 2>/dev/null
exit "$code"
