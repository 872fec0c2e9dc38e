#!/usr/bin/env bash
# Installs the Debian tools the interop tests and benchmarks drive: swaks, fetchmail,
# mbsync (isync) with Cyrus SASL's SCRAM plugin, curl, Postfix (smtp-source/smtp-sink and a
# peer MTA), Dovecot; systemd-analyze (checks contrib/systemd/posthouse.service), useradd and
# setpriv (the privilege-drop tests); rspamd (tests/integration/test_rspamd_smtp.py runs a
# private instance); Node and npm (imapflow, from the npm registry, in tests/interop);
# Chromium and ChromeDriver (the web admin's browser tests, headless); pebble (Let's Encrypt's
# ACME test server, for the ACME tests); haproxy (tests/interop/test_haproxy.py, PROXY
# protocol); DejaVu fonts so browser screenshots have glyphs.
# Does nothing when they are all present. Never starts the system instances of Postfix,
# Dovecot, rspamd or haproxy: tests run their own private instances on loopback high ports.
set -euo pipefail
need=()
for tool in swaks:swaks fetchmail:fetchmail mbsync:isync curl:curl smtp-source:postfix \
            dovecot:dovecot-imapd doveconf:dovecot-pop3d systemd-analyze:systemd \
            useradd:passwd setpriv:util-linux rspamd:rspamd node:nodejs npm:npm \
            chromium:chromium chromedriver:chromium-driver pebble:pebble haproxy:haproxy; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool#*:}")
done
[ -x /usr/lib/dovecot/pop3 ] || need+=(dovecot-pop3d)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
# mbsync speaks SCRAM-SHA-256 through Cyrus SASL; isync only recommends the plugins.
ls /usr/lib/*/sasl2/libscram.so* >/dev/null 2>&1 || need+=(libsasl2-modules)
# swaks only recommends its TLS modules; without them --tls fails ("requires Net::SSLeay").
perl -MNet::SSLeay -MIO::Socket::SSL -e1 >/dev/null 2>&1 \
    || need+=(libnet-ssleay-perl libio-socket-ssl-perl)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "debian-tools: missing ${need[*]}; run as root or install them" >&2
    exit 1
fi
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
# policy-rc.d 101 keeps the packages' maintainer scripts from starting system daemons.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${need[@]}" >/dev/null
