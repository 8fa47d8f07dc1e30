#!/usr/bin/env bash
# Installs netlab and everything its labs and tests use, on Debian/Ubuntu, as root.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # nft: NAT and firewalls; ping: the kernel's independent witness in tests;
  # graphviz: `netlab graph -o x.svg`; dnsmasq-base: the DNS lab; tcpdump: captures;
  # chromium + chromium-driver: the web view's browser tests (tests/web);
  # frr: routing = "ospf" / "rip" / "bgp" (docs/routing.md);
  # isc-dhcp-client, radvd: the dhcp and slaac labs (docs/labs/);
  # slirp4netns: [uplink] without root (docs/rootless.md, "Internet access").
  apt-get install -y -qq --no-install-recommends \
    iproute2 nftables iputils-ping graphviz dnsmasq-base tcpdump iperf3 \
    chromium chromium-driver frr isc-dhcp-client radvd slirp4netns >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -e '.[test]'
