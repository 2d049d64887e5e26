# Sourced by ci/tools.sh and ci/bench/tools.sh (never run): the one build
# cache both use. The caller sets $repo (the repository root) and may set
# $label (the log prefix). A binary is built into $cache/NAME/KEY once, keyed
# by the Go version, the build command (with the clone's path taken out, so a
# fresh clone elsewhere reuses it) and the files that describe its inputs,
# then linked into $bin.

cache=${MESHBUNDLE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meshbundle/tools}
bin=${MESHBUNDLE_BIN:-$repo/.tools/bin}
mkdir -p "$cache" "$bin"

modversion() { # modversion DIR MODULE -> the version DIR's go.mod selects
	(cd "$1" && go list -m -f '{{.Version}}' "$2")
}

# depsfile DIR PACKAGE -> a file listing every module@version PACKAGE is built
# from, so a binary is rebuilt exactly when one of its inputs changes (and not
# when go.sum changes for something else).
depsfile() {
	local f=$cache/.deps-${2//\//_}
	(cd "$1" && go list -deps -f '{{with .Module}}{{.Path}}@{{.Version}}{{end}}' "$2" | sort -u) >"$f"
	echo "$f"
}

# build NAME KEYFILES... -- COMMAND...: run COMMAND (which writes $out/NAME)
# unless the cache already holds NAME for this key; then link it into $bin.
build() {
	local name=$1; shift
	local keyparts=()
	while [ "$1" != "--" ]; do keyparts+=("$1"); shift; done
	shift
	local key
	# The key must not depend on where the clone is (CI clones elsewhere).
	key=$( { go version; printf '%s\n' "${*//$repo/REPO}"; cat "${keyparts[@]}"; } | sha256sum | cut -c1-16)
	local dir=$cache/$name/$key
	if [ ! -x "$dir/$name" ]; then
		echo "${label:-tools}: building $name ($key)" >&2
		local start=$SECONDS
		rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
		out=$dir.tmp "$@"
		rm -rf "$dir" && mv "$dir.tmp" "$dir"
		echo "${label:-tools}: built $name in $((SECONDS - start))s" >&2
	fi
	ln -sfn "$dir/$name" "$bin/$name"
	# Side files (kwok's stage manifests) are linked beside the binary.
	for f in "$dir"/*; do
		[ "$(basename "$f")" = "$name" ] || ln -sfn "$f" "$bin/$(basename "$f")"
	done
}
