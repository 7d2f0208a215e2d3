#!/bin/sh
# Program A of the verification module, SSH method (manual 3.1.3): the same module as
# ../webapi/program-a.sh, with the remote step run by `distcomp ssh` (program B) instead of
# the relay. On the external computer, cyclic-ss-curve.sh is program C (copy it there as
# ~/misrc_remote_workflow/scripts/execute_remote-side_program_ssh.sh, or name it with
# DISTCOMP_SSH_PROGRAM).
#
#   program-a.sh --yield_strength IN --tensile_strength IN --reduction_area IN \
#                --cyclic_curve OUT --material_inp OUT
#
# Exit status: program C's (0 = completed), 2 usage, 251-255 distcomp ssh's own failures
# (docs/ssh-method.md).
set -eu

# --- edit for your site, or set them in the environment -------------------------------------
: "${DISTCOMP_SSH_HOST:=mint-ext}"        # an alias of ~/.ssh/config, host, or user@host
: "${DISTCOMP_SSH_PROGRAM:=}"             # program C; empty: distcomp ssh's default
: "${DISTCOMP_SSH_BASE:=/tmp}"            # where working directories are made remotely
: "${DISTCOMP:=distcomp}"
# Extra options for distcomp ssh (e.g. "-F /path/ssh_config -p 2222"), split on spaces.
: "${DISTCOMP_SSH_OPTIONS:=}"
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
link_in() {
	src=$(abs "$1")
	[ -f "$src" ] || usage "input port file $1 does not exist"
	[ "$src" = "$(pwd)/$2" ] || ln -sf "$src" "$2"
}
link_in "$in_ys" yield_strength.dat
link_in "$in_ts" tensile_strength.dat
link_in "$in_ra" reduction_area.dat

# the remote step, over SSH: inputs copied (links followed), program C run there, the whole
# working directory fetched back here
set -- --base "$DISTCOMP_SSH_BASE"
if [ -n "$DISTCOMP_SSH_PROGRAM" ]; then set -- "$@" --program "$DISTCOMP_SSH_PROGRAM"; fi
status=0
# shellcheck disable=SC2086 # DISTCOMP_SSH_OPTIONS is split on purpose (local configuration)
"$DISTCOMP" ssh $DISTCOMP_SSH_OPTIONS "$@" "$DISTCOMP_SSH_HOST" yield_strength.dat tensile_strength.dat reduction_area.dat || status=$?

link_out() {
	[ -f "$1" ] || return 0
	dst=$(abs "$2")
	[ "$dst" = "$(pwd)/$1" ] && return 0
	mkdir -p "$(dirname "$dst")"
	ln -sf "$(pwd)/$1" "$dst"
}
link_out cyclic_curve.dat "$out_curve"
link_out material.inp "$out_inp"
if [ "$status" -eq 0 ] && [ ! -f cyclic_curve.dat ]; then
	echo "program-a: the remote step ended 0 but cyclic_curve.dat did not come back" >&2
	exit 1
fi
exit "$status"
