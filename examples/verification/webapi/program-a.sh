#!/bin/sh
# Program A of the verification module, WebAPI method (manual 3.2.3): what MInt's workflow
# runs for the remote step. A template for your own modules: copy it, change the ports, the
# file names and the remote command.
#
# The workflow player's convention: one `--<port name> <path>` per input and output port.
#   program-a.sh --yield_strength IN --tensile_strength IN --reduction_area IN \
#                --cyclic_curve OUT --material_inp OUT
#
# It links each input to the name the remote step expects, hands the calc to the relay with
# `distcomp submit` (which waits for the external computer to run it and writes the result
# files here), and links each result back to its output port's path. Its exit status is
# submit's: 0 completed, 1 abnormal, 2 usage or connection error.
set -eu

# --- edit for your site (manual chapter 4), or set them in the environment -----------------
: "${DISTCOMP_URL:=https://nims.mintsys.jp}"          # the relay (":50443" added when no port)
: "${DISTCOMP_SITE:=nims-dev}"                       # the external computer's site id
: "${DISTCOMP_REMOTE_COMMAND:=/home/calc/verification/cyclic-ss-curve.sh}"  # allowed on both sides
: "${DISTCOMP:=distcomp}"                            # the distcomp program
# The API token: DISTCOMP_TOKEN, or DISTCOMP_TOKEN_FILE (a file of yours, mode 600).
# --------------------------------------------------------------------------------------------

usage() {
	echo "program-a: $*" >&2
	echo "usage: program-a.sh --yield_strength F --tensile_strength F --reduction_area F --cyclic_curve F --material_inp F" >&2
	exit 2
}

in_ys='' in_ts='' in_ra='' out_curve='' out_inp=''
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || usage "port $1 has no path"
	case $1 in
	--yield_strength) in_ys=$2 ;;
	--tensile_strength) in_ts=$2 ;;
	--reduction_area) in_ra=$2 ;;
	--cyclic_curve) out_curve=$2 ;;
	--material_inp) out_inp=$2 ;;
	*) usage "unknown port $1" ;;
	esac
	shift 2
done
need() { [ -n "$2" ] || usage "port --$1 is missing"; }
need yield_strength "$in_ys"
need tensile_strength "$in_ts"
need reduction_area "$in_ra"
need cyclic_curve "$out_curve"
need material_inp "$out_inp"

abs() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$(pwd)" "$1" ;; esac; }

# inputs: the names the remote step expects
link_in() {
	src=$(abs "$1")
	[ -f "$src" ] || usage "input port file $1 does not exist"
	[ "$src" = "$(pwd)/$2" ] || ln -sf "$src" "$2"
}
link_in "$in_ys" yield_strength.dat
link_in "$in_ts" tensile_strength.dat
link_in "$in_ra" reduction_area.dat

# the remote step, through the relay
set -- "$DISTCOMP_URL" "$DISTCOMP_SITE" "$DISTCOMP_REMOTE_COMMAND" \
	yield_strength.dat:tensile_strength.dat:reduction_area.dat cyclic_curve.dat:material.inp
if [ -n "${DISTCOMP_TOKEN_FILE:-}" ]; then set -- "$@" --token-file "$DISTCOMP_TOKEN_FILE"; fi
status=0
"$DISTCOMP" submit "$@" || status=$?

# outputs: back to the output ports' paths (whatever exists, also after an abnormal end)
link_out() {
	[ -f "$1" ] || return 0
	dst=$(abs "$2")
	[ "$dst" = "$(pwd)/$1" ] && return 0
	mkdir -p "$(dirname "$dst")"
	ln -sf "$(pwd)/$1" "$dst"
}
link_out cyclic_curve.dat "$out_curve"
link_out material.inp "$out_inp"
exit "$status"
