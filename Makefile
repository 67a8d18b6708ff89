# Newcomers: `sudo make demo` runs the main job in a throw-away lab; `sudo make test` runs the suite.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := iproute2 iputils-ping ethtool dnsmasq-base kea-dhcp4-server kea-dhcp6-server tcpdump tshark p0f openssl \
	chrony libcoap3-bin avahi-daemon avahi-utils lldpd dbus nginx libnginx-mod-stream mosquitto mosquitto-clients nftables \
	chromium containerd runc docker.io docker-compose debootstrap containernetworking-plugins nmap snmp dcmtk sipsak onvif-tools \
	openssh-server inetutils-telnetd inetutils-inetd radvd hostapd freeradius eapoltest
STAMP := $(VENV)/.installed
WEB := dashboard/web
WEB_DEPS := $(WEB)/node_modules/.iotemu-installed
WEB_BUILT := $(WEB)/dist/.iotemu-built
# The web build depends on its sources and on the API it is generated from (the OpenAPI schema).
WEB_SOURCES := $(shell find $(WEB)/src $(WEB)/scripts dashboard/iot_dashboard -type f \( -name '*.ts' -o -name '*.tsx' \
	-o -name '*.css' -o -name '*.py' -o -name '*.mjs' \) -not -name '*.gen.ts' 2>/dev/null) \
	$(WEB)/index.html $(WEB)/vite.config.ts $(WEB)/vite.lib.config.ts $(WEB)/tsconfig.json emulator-image/iot_emulator/config/models.py

.PHONY: setup apt web demo test lint unit lab bench clean cluster cluster-bin cluster-down images

setup: apt $(STAMP) web

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

# The React tab: `npm ci` when the lock file changes, then generate the API client from the
# service's OpenAPI schema and build (dashboard/web/dist, served by the dashboard at `/`).
web: $(WEB_BUILT)

$(WEB_DEPS): $(WEB)/package.json $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(WEB_BUILT): $(WEB_DEPS) $(WEB_SOURCES) | $(STAMP)
	cd $(WEB) && npm run generate && npm run build
	touch $@

# A real Kubernetes cluster: control plane (etcd, API server, controller manager, scheduler) and a node
# (kubelet, containerd) in a lab, built from the Go modules pinned in cluster/go/ (cached by their hash in
# /var/cache/iotemu), with kubectl and helm in .cluster/bin and the admin kubeconfig in .cluster/kubeconfig.
# The suite starts one itself when none is up.
cluster-bin:
	bash cluster/build.sh >/dev/null

cluster: setup cluster-bin
	$(PY) cluster/controlplane.py up --node

# The emulator image, built by Docker Engine from a debootstrapped Debian (cached by its sources' hash).
images: setup
	bash cluster/images.sh

cluster-down:
	$(PY) cluster/controlplane.py down

demo: setup
	$(VENV)/bin/iotemu demo

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache
	cd $(WEB) && npm run lint

test: setup cluster-bin lint
	cd $(WEB) && npm test
	$(VENV)/bin/pytest -q -p no:cacheprovider -n 3 --dist loadgroup --no-loadscope-reorder --durations=10

unit: setup
	$(VENV)/bin/pytest -q tests/unit

bench: setup
	$(PY) bench/dhcp_bind.py --devices 2000
	$(PY) bench/pps.py
	$(PY) bench/scale.py --devices 10000
	$(PY) bench/vlan_recv.py
	$(PY) bench/ui_render.py

clean:
	rm -rf $(VENV) build *.egg-info $(WEB)/node_modules $(WEB)/dist
