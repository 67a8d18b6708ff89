#!/usr/bin/env bash
# Builds the test cluster's binaries from the Go modules pinned in cluster/go/*/go.mod (etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy, kubelet, kubectl, helm, and
# Multus's thin CNI plugin with its NetworkAttachmentDefinition CRD) into a cache keyed by the pinned
# versions, then links them into .cluster/bin. Only a binary that is
# missing is built: a second run with the same pins builds nothing. Cache: $IOTEMU_CACHE (default
# /var/cache/iotemu).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
cache="${IOTEMU_CACHE:-/var/cache/iotemu}"
export GOFLAGS="-trimpath -buildvcs=false" CGO_ENABLED=0
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { echo "cluster/build.sh: Go >= 1.24 is needed (https://go.dev/dl)" >&2; exit 1; }

version_of() { # module path, go.mod -> pinned version
  awk -v m="$1" '$1 == m && $2 ~ /^v/ { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$2"
}

kube="$(version_of k8s.io/kubernetes "$here/go/kubernetes/go.mod")"
etcdv="$(version_of go.etcd.io/etcd/server/v3 "$here/go/etcd/go.mod")"
helmv="$(version_of helm.sh/helm/v4 "$here/go/helm/go.mod")"
out="$cache/cluster-bin/$(echo "kubernetes=$kube etcd=$etcdv helm=$helmv" | sha256sum | cut -c1-16)"
mkdir -p "$out"
minor="$(echo "$kube" | cut -d. -f2)"
kv="k8s.io/component-base/version"
kflags="-s -w -X $kv.gitVersion=$kube -X $kv.gitMajor=1 -X $kv.gitMinor=$minor -X $kv.gitTreeState=clean"
kflags="$kflags -X k8s.io/client-go/pkg/version.gitVersion=$kube"
for cmd in kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kubectl; do
  [ -x "$out/$cmd" ] && continue
  echo "building $cmd $kube" >&2
  (cd "$here/go/kubernetes" && go build -ldflags "$kflags" -o "$out/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd")
  mv "$out/$cmd.tmp" "$out/$cmd"
done
if [ ! -x "$out/etcd" ]; then
  echo "building etcd $etcdv" >&2
  (cd "$here/go/etcd" && go build -ldflags "-s -w" -o "$out/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$out/etcd.tmp" "$out/etcd"
fi
if [ ! -x "$out/helm" ]; then
  echo "building helm $helmv" >&2
  (cd "$here/go/helm" && go build -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$helmv" \
    -o "$out/helm.tmp" helm.sh/helm/v4/cmd/helm)
  mv "$out/helm.tmp" "$out/helm"
fi

# Multus (thin plugin) and the NetworkAttachmentDefinition CRD of the same release (the first document of
# its deployments/multus-daemonset.yml), keyed by its own pin so a Multus bump rebuilds nothing else.
multusv="$(version_of gopkg.in/k8snetworkplumbingwg/multus-cni.v4 "$here/go/multus/go.mod")"
multus="$cache/multus/$multusv"
if [ ! -x "$multus/multus" ]; then
  echo "building multus $multusv" >&2
  mkdir -p "$multus"
  pkg="gopkg.in/k8snetworkplumbingwg/multus-cni.v4/pkg/multus"
  (cd "$here/go/multus" && go build -ldflags "-s -w -X $pkg.version=$multusv -X $pkg.releaseStatus=released" \
    -o "$multus/multus.tmp" gopkg.in/k8snetworkplumbingwg/multus-cni.v4/cmd/multus)
  src="$(cd "$here/go/multus" && go list -m -f '{{.Dir}}' gopkg.in/k8snetworkplumbingwg/multus-cni.v4)"
  awk '/^---/ { n++; next } n == 1' "$src/deployments/multus-daemonset.yml" >"$multus/nad-crd.yaml"
  grep -q "kind: NetworkAttachmentDefinition" "$multus/nad-crd.yaml"
  mv "$multus/multus.tmp" "$multus/multus"
fi

# The pod sandbox image, keyed by its own sources.
pause="$cache/pause/$(cat "$here"/pause/* "$here"/images.py | sha256sum | cut -c1-16)"
if [ ! -f "$pause/pause-image.tar" ]; then
  mkdir -p "$pause"
  (cd "$here/pause" && go build -ldflags "-s -w" -o "$pause/pause" .)
  python3 "$here/images.py" pause "$pause/pause" "$pause/pause-image.tar.tmp"
  mv "$pause/pause-image.tar.tmp" "$pause/pause-image.tar"
fi
mkdir -p "$root/.cluster/bin"
ln -sfn "$pause/pause-image.tar" "$root/.cluster/bin/pause-image.tar"
ln -sfn "$multus/multus" "$root/.cluster/bin/multus"
ln -sfn "$multus/nad-crd.yaml" "$root/.cluster/bin/nad-crd.yaml"
for f in "$out"/*; do ln -sfn "$f" "$root/.cluster/bin/$(basename "$f")"; done
echo "$root/.cluster/bin"
