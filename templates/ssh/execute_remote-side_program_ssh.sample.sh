#!/bin/sh
# execute_remote-side_program_ssh.sample.sh: program C of the SSH method (manual 3.1.3, 5.1).
#
# Copy this file to execute_remote-side_program_ssh.sh (the name `distcomp ssh` runs by
# default, from ~/misrc_remote_workflow/scripts/ unless told --remote-dir/--program), make it
# executable, and replace the example steps with yours.
#
# How it is run:
#   - in the working directory BASE/UUID (default /tmp/<uuid>), which holds the input files;
#   - with no arguments, stdin from /dev/null, stdout and stderr into remote_program_exec.log;
#   - detached from the SSH session: a dropped connection does not stop it;
#   - by /bin/sh via the shebang above; your login shell's startup files are NOT read, so set
#     PATH and anything else you need here (or source a file of yours explicitly).
# What it must do:
#   - leave in the working directory exactly what should go back to MInt: everything left there
#     is fetched into the module's directory. Delete what must not leave this machine.
#   - exit 0 on success; any other status becomes the module's status.
#   - leave the .distcomp/ directory alone (distcomp ssh keeps its records there).
set -eu

# The user's own scripts (program D), kept next to this file (see remote-side_scripts/README).
scripts_dir="$HOME/misrc_remote_workflow/scripts/remote-side_scripts"
PATH="$PATH:/usr/local/bin"
export PATH

echo "started $(date -u +%Y-%m-%dT%H:%M:%SZ) in $(pwd)"
ls -l

# Example: turn the inputs into a solver input, run the solver, keep only the results.
#   "$scripts_dir/make_input.sh" yield_strength.dat tensile_strength.dat > model.inp
#   my_solver -i model.inp -o result.csv
#   rm -f model.inp scratch.*          # not for MInt
: "${scripts_dir}"

echo "finished $(date -u +%Y-%m-%dT%H:%M:%SZ)"
