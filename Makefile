# Newcomers: `sudo make demo` runs the main job in a throw-away lab; `sudo make test` runs the suite.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := iproute2 iputils-ping ethtool dnsmasq-base kea-dhcp4-server tcpdump tshark p0f openssl \
	chrony libcoap3-bin avahi-daemon avahi-utils lldpd dbus nginx libnginx-mod-stream mosquitto
STAMP := $(VENV)/.installed

.PHONY: setup apt demo test lint unit lab bench clean

setup: apt $(STAMP)

apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages:$$missing (run as root: sudo make setup)"; exit 1; fi; \
	  echo "installing:$$missing"; \
	  policy=/usr/sbin/policy-rc.d; ours=0; \
	  if [ ! -e $$policy ]; then printf '#!/bin/sh\nexit 101\n' > $$policy; chmod +x $$policy; ours=1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; rc=$$?; \
	  [ $$ours = 1 ] && rm -f $$policy; [ $$rc = 0 ] || exit $$rc; \
	fi

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(VENV)/bin/iotemu demo

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: setup lint
	$(VENV)/bin/pytest -q -p no:cacheprovider

unit: setup
	$(VENV)/bin/pytest -q tests/unit

bench: setup
	$(PY) bench/dhcp_bind.py --devices 2000
	$(PY) bench/pps.py
	$(PY) bench/scale.py --devices 10000

clean:
	rm -rf $(VENV) build *.egg-info
