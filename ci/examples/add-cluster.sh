#!/usr/bin/env bash
# add-cluster.sh: put Istio (meshbundle's installer) on a cluster that was
# just added to the platform. Copy it into your pipeline; see docs/pipeline.md.
#
#   KUBECONFIG=/path/to/kubeconfig ci/examples/add-cluster.sh \
#     --context new-cluster -f istio-operator.yaml --set meshConfig.defaultConfig.tracing.sampling=10
#
# Arguments are passed to both `meshbundle install` and `meshbundle status`:
# --kubeconfig, --context, -f/--filename, --set, --profile,
# --gateway-namespace, --no-gateway, --addons-chart.
#
# Environment:
#   MESHBUNDLE  the meshbundle binary (default: meshbundle on PATH)
#   OUT_DIR     where install.json and status.json go (default: ./meshbundle-out)
#   TIMEOUT     per attempt, as --timeout (default: 10m)
#   ATTEMPTS    attempts when the cluster is unreachable (exit 3), the
#               attempt timed out (exit 4) or another run holds the installer
#               lease (exit 5); a re-run converges (default: 3)
#   BACKOFF     seconds between attempts (default: 20)
#
# Exit code: meshbundle's: 0 installed and ready, 1 failed, 2 bad input
# (nothing changed, do not retry), 3 cluster unreachable, 4 timed out,
# 5 locked by another run (README "Exit codes").
set -euo pipefail

mb=${MESHBUNDLE:-meshbundle}
out=${OUT_DIR:-meshbundle-out}
timeout=${TIMEOUT:-10m}
attempts=${ATTEMPTS:-3}
backoff=${BACKOFF:-20}
mkdir -p "$out"

attempt=1
while :; do
	echo "add-cluster: install, attempt $attempt of $attempts" >&2
	rc=0
	# Progress goes to stderr (the job log), the JSON result to a file.
	"$mb" install --wait --timeout "$timeout" -o json "$@" >"$out/install.json" || rc=$?
	case $rc in
	0) break ;;
	2)
		echo "add-cluster: bad input, nothing was changed; fix the flags or the IstioOperator file (see $out/install.json)" >&2
		exit 2
		;;
	3 | 4 | 5)
		if [ "$attempt" -ge "$attempts" ]; then
			echo "add-cluster: giving up after $attempt attempts (exit $rc); re-running later finishes the install" >&2
			exit "$rc"
		fi
		echo "add-cluster: exit $rc (3 unreachable, 4 timeout, 5 another run holds the lease); retrying in ${backoff}s, a re-run converges" >&2
		sleep "$backoff"
		attempt=$((attempt + 1))
		;;
	*)
		echo "add-cluster: install failed (exit $rc); see $out/install.json" >&2
		exit "$rc"
		;;
	esac
done

# Exit 0 only when every release is deployed and istiod and the gateway are
# ready: the pipeline's gate before it registers the cluster for workloads.
rc=0
"$mb" status -o json "$@" >"$out/status.json" || rc=$?
if [ "$rc" -ne 0 ]; then
	echo "add-cluster: installed but not ready (exit $rc); see $out/status.json" >&2
	exit "$rc"
fi
echo "add-cluster: Istio installed and ready; results in $out/" >&2
