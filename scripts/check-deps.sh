#!/usr/bin/env bash
# Fails when a package imports a module package that sits above it in the layer table
# (scripts/layers.txt, mirroring docs/design.md §2), or when a package is not in the table.
# Only non-test imports are checked: tests may import what they need.
set -euo pipefail
cd "$(dirname "$0")/.."
mod=$(go list -m)
go list -f '{{.ImportPath}}{{range .Imports}} {{.}}{{end}}' ./... |
awk -v mod="$mod" -v table=scripts/layers.txt '
function rel(p) { return p == mod ? "." : substr(p, length(mod) + 2) }
# matches reports whether package p matches pattern pat ("x" or "x/...").
function matches(p, pat,   base) {
	if (pat == "*") return 1
	if (pat ~ /\/\.\.\.$/) { base = substr(pat, 1, length(pat) - 4); return p == base || index(p, base "/") == 1 }
	return p == pat
}
# specificity ranks exact patterns above subtree patterns, longer above shorter.
function specificity(pat) { return (pat ~ /\/\.\.\.$/ ? 0 : 100000) + length(pat) }
BEGIN {
	n = 0
	while ((getline line < table) > 0) {
		if (line ~ /^[ \t]*(#|$)/) continue
		split(line, f, /[ \t]+/)
		n++; pkgpat[n] = f[1]; allowed[n] = ""
		for (i = 2; i in f; i++) if (f[i] != "") allowed[n] = allowed[n] " " f[i]
		delete f
	}
	bad = 0
}
{
	p = rel($1); best = 0; bestspec = -1
	for (r = 1; r <= n; r++) if (matches(p, pkgpat[r]) && specificity(pkgpat[r]) > bestspec) { best = r; bestspec = specificity(pkgpat[r]) }
	if (!best) { printf "check-deps: package %s is not in %s; add it to its layer\n", p, table; bad = 1; next }
	split(allowed[best], ok, " ")
	for (i = 2; i <= NF; i++) {
		imp = $i
		if (imp != mod && index(imp, mod "/") != 1) continue
		ri = rel(imp); fine = 0
		for (j in ok) if (ok[j] != "-" && matches(ri, ok[j])) { fine = 1; break }
		if (!fine) { printf "check-deps: %s imports %s, which its layer (%s) does not allow\n", p, ri, pkgpat[best]; bad = 1 }
	}
	delete ok
}
END { exit bad }'
echo "check-deps: ok"
