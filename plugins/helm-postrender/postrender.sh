#!/bin/sh
# Runs meshbundle-postrender for Helm 4's postrenderer/v1 plugin runtime.
#
# Helm 4.2 collects a post-renderer plugin's stderr in a buffer it never
# prints: a failing render would only say `plugin "meshbundle" exited with
# error`. So the renderer's messages (the error naming object, field and fix;
# warnings) go to Helm's own stderr, the stderr of this script's parent, where
# the platform exposes it (/proc on Linux). Stdout stays Helm's pipe.
set -u
bin=${MESHBUNDLE_POSTRENDER:-meshbundle-postrender}
helm_stderr=/proc/$PPID/fd/2
if [ -w "$helm_stderr" ]; then
	exec "$bin" "$@" 2>>"$helm_stderr"
fi
exec "$bin" "$@"
