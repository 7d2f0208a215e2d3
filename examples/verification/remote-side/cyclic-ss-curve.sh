#!/bin/sh
# The remote step of the verification module (program D, manual 3.2.3 / program C for the SSH
# method, 3.1.3): a cyclic stress-strain curve from three monotonic tensile properties.
#
# Runs in the calc's working directory (the agent sets it as the current directory and in
# CALC_DIR; the SSH method runs it there too). Needs only a POSIX sh and awk.
#
# In:   yield_strength.dat    0.2 % proof stress, MPa       (one number)
#       tensile_strength.dat  ultimate tensile strength, MPa (one number)
#       reduction_area.dat    reduction of area, % (or a fraction below 1)
# Out:  cyclic_curve.dat      strain amplitude, stress amplitude (MPa), plastic strain amplitude
#       material.inp          an Abaqus *MATERIAL card (*ELASTIC, *PLASTIC from the cyclic curve)
#       and a summary on stdout (計算標準出力.txt)
# Argument (optional): Young's modulus in MPa (default 206000, steel).
#
# The model: Ramberg-Osgood cyclic curve  eps_a = sig_a/E + (sig_a/K')^(1/n'), with the fatigue
# constants estimated from monotonic properties by Mitchell's method (steels):
#   eps_f = ln(1/(1-RA))           true fracture ductility  (= eps_f')
#   sig_f' = sig_u + 345 MPa        fatigue strength coefficient
#   b = -log10(2 sig_f'/sig_u)/6    fatigue strength exponent;  c = -0.6
#   n' = b/c,  K' = sig_f' / eps_f'^n'
set -eu
LC_ALL=C
export LC_ALL
E_MOD=${1:-206000}

fail() {
	echo "cyclic-ss-curve: $*" >&2
	exit 1
}

# one positive number from a file, or a clear failure
read_number() {
	[ -f "$1" ] || fail "input $1 is missing (expected in $(pwd))"
	awk -v name="$1" '
		{ for (i = 1; i <= NF; i++) { n++; v = $i } }
		END {
			if (n != 1 || v !~ /^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$/ || v + 0 <= 0) {
				printf "cyclic-ss-curve: %s must hold one positive number, found \"%s\"\n", name, v > "/dev/stderr"
				exit 1
			}
			print v + 0
		}' "$1"
}

SY=$(read_number yield_strength.dat) || exit 1
SU=$(read_number tensile_strength.dat) || exit 1
RA=$(read_number reduction_area.dat) || exit 1
case $E_MOD in
	*[!0-9.]* | '') fail "Young's modulus must be a number in MPa, got \"$E_MOD\"" ;;
esac

awk -v sy="$SY" -v su="$SU" -v ra="$RA" -v E="$E_MOD" '
function log10(x) { return log(x) / log(10) }
BEGIN {
	if (su <= sy) { printf "cyclic-ss-curve: tensile strength (%g MPa) must exceed yield strength (%g MPa)\n", su, sy > "/dev/stderr"; exit 1 }
	r = (ra >= 1) ? ra / 100 : ra
	if (r <= 0 || r >= 1) { printf "cyclic-ss-curve: reduction of area must be between 0 and 100 %%, got %g\n", ra > "/dev/stderr"; exit 1 }
	epsf = log(1 / (1 - r))
	sigf = su + 345
	b = -log10(2 * sigf / su) / 6
	c = -0.6
	n = b / c
	K = sigf / (epsf ^ n)
	syc = K * (0.002 ^ n)

	printf "monotonic: yield %.1f MPa, tensile %.1f MPa, reduction of area %.1f %%, E %.0f MPa\n", sy, su, r * 100, E
	printf "fatigue constants (Mitchell): sigma_f%s = %.1f MPa, eps_f%s = %.4f, b = %.4f, c = %.2f\n", "\047", sigf, "\047", epsf, b, c
	printf "cyclic curve (Ramberg-Osgood): K%s = %.1f MPa, n%s = %.4f\n", "\047", K, "\047", n
	printf "cyclic 0.2%% yield = %.1f MPa (%s vs monotonic %.1f MPa)\n", syc, (syc < sy ? "cyclic softening" : "cyclic hardening"), sy

	out = "cyclic_curve.dat"
	printf "# cyclic stress-strain curve: eps_a = sig_a/E + (sig_a/K%s)^(1/n%s), K%s = %.1f MPa, n%s = %.4f, E = %.0f MPa\n", "\047", "\047", "\047", K, "\047", n, E > out
	printf "# strain_amplitude  stress_amplitude_MPa  plastic_strain_amplitude\n" > out
	inp = "material.inp"
	printf "** cyclic stress-strain curve from yield %.1f MPa, tensile %.1f MPa, RA %.1f %% (Mitchell, Ramberg-Osgood)\n", sy, su, r * 100 > inp
	printf "*MATERIAL, NAME=CYCLIC\n*ELASTIC\n%.1f, 0.3\n*PLASTIC\n", E > inp
	# plastic strain amplitudes 1e-4 .. 2e-2, 16 points evenly spaced in log
	for (i = 0; i < 16; i++) {
		ep = 10 ^ (-4 + i * log10(200) / 15)
		s = K * (ep ^ n)
		printf "%.6f  %.2f  %.6f\n", s / E + ep, s, ep > out
		if (i == 0) ep0 = ep
		printf "%.2f, %.6f\n", s, ep - ep0 > inp
	}
	close(out); close(inp)
}' || exit 1
echo "wrote cyclic_curve.dat and material.inp"
