# test_helper.bash - a hermetic environment for every tests/NAME.bats:
# the freshly built tools first on PATH, C locale, a private HOME, and
# bats-assert/bats-support from Debian's packages.
bats_require_minimum_version 1.5.0
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
export ROOT
export PATH="$ROOT/${KVA_BUILD:-build}/bin:$PATH"
export LC_ALL=C
export HOME="$BATS_TEST_TMPDIR"
FIX="$ROOT/tests/fixtures"

# check_man_examples PAGE: run every "$ command" line in the page's
# EXAMPLES section from the repository root and compare what it prints
# with the lines the page shows under it, so the docs cannot drift.
check_man_examples() {
	local page=$1 n=0 cmd="" want="" got in=0 line
	while IFS= read -r line; do
		case $line in
		".Sh EXAMPLES") in=1; continue ;;
		".Sh "*) [ $in = 1 ] && break ;;
		esac
		[ $in = 1 ] || continue
		case $line in
		'$ '*|.Ed)
			if [ -n "$cmd" ]; then
				got=$(cd "$ROOT" && sh -c "$cmd" 2>&1) || {
					echo "example failed (status $?): $cmd"
					echo "$got"
					return 1
				}
				if [ "$got" != "$want" ]; then
					echo "example output drifted: $cmd"
					diff -u <(printf '%s\n' "$want") <(printf '%s\n' "$got")
					return 1
				fi
				n=$((n + 1))
			fi
			cmd=""; want=""
			case $line in '$ '*)
				cmd=${line#\$ }
				cmd=${cmd//\\e/\\}
				cmd=${cmd//\\-/-}
				;;
			esac
			;;
		.*) ;;
		*)
			[ -n "$cmd" ] || continue
			line=${line//\\e/\\}
			line=${line//\\&/}
			line=${line//\\-/-}
			want=${want:+$want$'\n'}$line
			;;
		esac
	done < "$ROOT/man/$page"
	[ "$n" -gt 0 ] || { echo "no examples found in $page"; return 1; }
	echo "$n examples checked"
}
