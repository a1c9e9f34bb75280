#!/bin/sh
# Holds new TCP connections to the proxy's published ports while its container changes engine:
# their first packet (SYN) is dropped, not refused, so that clients send it again (after 1 s,
# then 3 s and 7 s from their first) and are served once the hold ends, instead of meeting a
# refused connection or the new engine's first half-second (Traefik's default certificate,
# traefik/traefik#7869). Connections already open are not touched. A hold ends by itself after
# its seconds (iptables' time match), should the run that set it stop before it releases it.
#   hold-new-connections.sh hold <seconds> <port>...
#   hold-new-connections.sh release
# iptables commands (iptables-nft on Debian 12 and 13), as the firewall role's: no module
# offers the time and conntrack matches together.
set -eu
comment=fastapi-deploy-engine-switch-hold

release() {
  for tool in iptables ip6tables; do
    for chain in INPUT DOCKER-USER; do
      "$tool" -w -S "$chain" 2>/dev/null | grep -e "--comment $comment" | sed 's/^-A /-D /' |
        while read -r rule; do
          # shellcheck disable=SC2086 # the rule's words, as iptables printed them
          "$tool" -w $rule
        done
    done
  done
}

hold() {
  seconds=$1
  shift
  until=$(date -u -d "@$(($(date +%s) + seconds))" +%Y-%m-%dT%H:%M:%S)
  release
  for tool in iptables ip6tables; do
    for port in "$@"; do
      # Before Docker translates them (no container publishes the port for a moment), ...
      "$tool" -w -I INPUT 1 ! -i lo -p tcp --syn --dport "$port" -m time --datestop "$until" \
        -m comment --comment "$comment" -j DROP
      # ... and after (the new container publishes it, but may not serve its certificates yet).
      if "$tool" -w -n -L DOCKER-USER >/dev/null 2>&1; then
        "$tool" -w -I DOCKER-USER 1 -p tcp --syn -m conntrack --ctstate DNAT \
          --ctorigdstport "$port" -m time --datestop "$until" -m comment --comment "$comment" -j DROP
      fi
    done
  done
}

case "${1:-}" in
  hold) shift && hold "$@" ;;
  release) release ;;
  *) echo "usage: $0 hold <seconds> <port>... | release" >&2 && exit 2 ;;
esac
