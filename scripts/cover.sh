#!/usr/bin/env bash
# Runs the unit tests with coverage and fails when a package group of
# scripts/cover-groups.txt is under its threshold. Usage: cover.sh [profile-out]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.cover/cover.out}
mkdir -p "$(dirname "$out")"
log="$(dirname "$out")/cover-test.log"
if ! go test -count=1 -covermode=atomic -coverprofile="$out" ./... >"$log" 2>&1; then
	echo "cover: tests failed (full output in $log):" >&2
	grep -v '^\[20' "$log" | grep -E -A12 '^(--- FAIL|FAIL|panic:)|found unexpected goroutines' | head -150 >&2
	exit 1
fi
mod=$(go list -m)
awk -v mod="$mod" -v groups=scripts/cover-groups.txt '
function matches(p, pat,   base) {
	if (pat ~ /\/\.\.\.$/) { base = substr(pat, 1, length(pat) - 4); return p == base || index(p, base "/") == 1 }
	return p == pat
}
BEGIN {
	ng = 0
	while ((getline line < groups) > 0) {
		if (line ~ /^[ \t]*(#|$)/) continue
		split(line, f, /[ \t]+/)
		ng++; gname[ng] = f[1]; gmin[ng] = f[2]; gpats[ng] = ""
		for (i = 3; i in f; i++) if (f[i] != "") gpats[ng] = gpats[ng] " " f[i]
		delete f
	}
}
NR == 1 { next } # mode line
{
	split($1, loc, ":"); file = loc[1]
	pkg = file; sub(/\/[^\/]*$/, "", pkg)
	pkg = (pkg == mod) ? "." : substr(pkg, length(mod) + 2)
	# The same block can appear more than once; count each block once, covered if any run hit it.
	key = $1
	if (!(key in stmts)) { stmts[key] = $2; blockpkg[key] = pkg }
	if ($3 > 0) hit[key] = 1
}
END {
	for (key in stmts) {
		p = blockpkg[key]; g = 0
		for (i = 1; i <= ng && !g; i++) {
			split(gpats[i], pats, " ")
			for (j in pats) if (matches(p, pats[j])) { g = i; break }
			delete pats
		}
		if (!g) continue
		total[g] += stmts[key]; if (key in hit) covered[g] += stmts[key]
		ptotal[p] += stmts[key]; if (key in hit) pcovered[p] += stmts[key]; pgroup[p] = g
	}
	for (p in ptotal) printf "  %-28s %6.1f%%  (%s)\n", p, 100 * pcovered[p] / ptotal[p], gname[pgroup[p]] | "sort"
	close("sort")
	bad = 0
	for (g = 1; g <= ng; g++) {
		if (!total[g]) { printf "cover: group %-8s no statements yet\n", gname[g]; continue }
		pct = 100 * covered[g] / total[g]
		status = pct + 1e-9 >= gmin[g] ? "ok" : "FAIL"
		if (status == "FAIL") bad = 1
		printf "cover: group %-8s %6.1f%% (min %s%%) %s\n", gname[g], pct, gmin[g], status
	}
	exit bad
}' "$out"
